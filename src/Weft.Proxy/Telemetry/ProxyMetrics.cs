using System.Collections.Concurrent;
using System.Globalization;

namespace Weft.Proxy.Telemetry;

/// <summary>The labels of weft_requests_total; value equality makes it a dictionary key.</summary>
internal readonly record struct RequestLabels(
    string Direction,
    string SourceService,
    string SourceVersion,
    string DestinationService,
    string DestinationVersion,
    string ResponseCode,
    string GrpcStatus,
    string Protocol,
    string Mtls)
{
    /// <summary>The same strings, by reference: what a repeated request of a connection has (no hashing, no comparing characters).</summary>
    public bool SameInstances(in RequestLabels other) =>
        ReferenceEquals(Direction, other.Direction) && ReferenceEquals(SourceService, other.SourceService)
        && ReferenceEquals(SourceVersion, other.SourceVersion) && ReferenceEquals(DestinationService, other.DestinationService)
        && ReferenceEquals(DestinationVersion, other.DestinationVersion) && ReferenceEquals(ResponseCode, other.ResponseCode)
        && ReferenceEquals(GrpcStatus, other.GrpcStatus) && ReferenceEquals(Protocol, other.Protocol) && ReferenceEquals(Mtls, other.Mtls);
}

/// <summary>
/// One weft_requests_total series and its duration histogram, found with one lookup per request.
/// The histogram exposition merges series by response code class at scrape time (cold).
/// </summary>
internal sealed class RequestSeries
{
    /// <summary>Upper bounds in seconds: loopback hops are sub-millisecond, user-facing calls seconds.</summary>
    public static readonly double[] BoundsSeconds = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

    private static readonly long[] BoundsTicks = MakeBoundsTicks();

    private readonly long[] _buckets = new long[BoundsSeconds.Length + 1];
    private long _count;
    private long _sumTicks;

    public long Count => Volatile.Read(ref _count);
    public long SumTicks => Volatile.Read(ref _sumTicks);

    /// <summary>Per-bucket (not cumulative) counts; the last is above every bound.</summary>
    public long Bucket(int index) => Volatile.Read(ref _buckets[index]);

    public void Record(long elapsedTicks)
    {
        var i = 0;
        var bounds = BoundsTicks;
        while (i < bounds.Length && elapsedTicks > bounds[i])
            i++;
        Interlocked.Increment(ref _buckets[i]);
        Interlocked.Add(ref _sumTicks, elapsedTicks);
        Interlocked.Increment(ref _count);
    }

    private static long[] MakeBoundsTicks()
    {
        var ticks = new long[BoundsSeconds.Length];
        for (var i = 0; i < ticks.Length; i++)
            ticks[i] = (long)(BoundsSeconds[i] * System.Diagnostics.Stopwatch.Frequency);
        return ticks;
    }
}

/// <summary>A counter cell: one long per label set, bumped with Interlocked, never locked.</summary>
internal sealed class Counter
{
    private long _value;
    public long Value => Volatile.Read(ref _value);
    public void Increment() => Interlocked.Increment(ref _value);
    public void Decrement() => Interlocked.Decrement(ref _value);
    public void Add(long amount) => Interlocked.Add(ref _value, amount);
}

/// <summary>
/// The proxy's metrics. Counters live in ConcurrentDictionaries keyed by label sets: after the first
/// request of a label set, recording is a lookup plus one Interlocked increment.
/// </summary>
internal sealed class ProxyMetrics : Security.Authorization.IAuthorizationObserver
{
    // Status codes as strings made once: no int formatting per request.
    private static readonly string[] StatusCodes = MakeStatusCodes();

    private readonly ConcurrentDictionary<RequestLabels, RequestSeries> _requests = new();
    private readonly ConcurrentDictionary<int, Counter> _tcpOpened = new();
    private readonly ConcurrentDictionary<int, Counter> _tcpClosed = new();
    private readonly ConcurrentDictionary<int, Counter> _tcpSent = new();
    private readonly ConcurrentDictionary<int, Counter> _tcpReceived = new();
    private readonly ConcurrentDictionary<(string Listener, string Outcome), Counter> _detections = new();
    private readonly ConcurrentDictionary<(string Listener, string Reason), Counter> _sniRejected = new();
    private readonly ConcurrentDictionary<(string Listener, string Outcome), Counter> _mtls = new();
    private readonly ConcurrentDictionary<int, Counter> _resetFloods = new();
    private readonly ConcurrentDictionary<int, Counter> _tcpRejected = new();
    private readonly ConcurrentDictionary<(string Reason, string Policy, string Protocol), Counter> _authzDenied = new();
    private readonly ConcurrentDictionary<string, Counter> _authzAudited = new();
    private long _configRevision;

    public long ConfigRevision
    {
        get => Volatile.Read(ref _configRevision);
        set => Volatile.Write(ref _configRevision, value);
    }

    public static string StatusCodeText(int code) =>
        (uint)code < (uint)StatusCodes.Length ? StatusCodes[code] : code.ToString(CultureInfo.InvariantCulture);

    /// <summary>The series of a label set (made on its first request).</summary>
    public RequestSeries SeriesFor(in RequestLabels labels) =>
        _requests.TryGetValue(labels, out var series) ? series : _requests.GetOrAdd(labels, static _ => new RequestSeries());

    /// <summary>Requests in flight, inbound (inside this workload's app) and outbound (sent by it or, on a gateway, through it).</summary>
    public Counter ActiveInbound { get; } = new();

    public Counter ActiveOutbound { get; } = new();

    public Counter Active(bool inbound) => inbound ? ActiveInbound : ActiveOutbound;

    public void ConnectionOpened(int port) => CounterFor(_tcpOpened, port).Increment();

    public void ConnectionClosed(int port) => CounterFor(_tcpClosed, port).Increment();

    /// <summary>A connection refused at accept: the listener's or the proxy's connection limit was reached.</summary>
    public void ConnectionRejected(int port) => CounterFor(_tcpRejected, port).Increment();

    /// <summary>The counter of bytes sent to downstream clients of a listener (what upstreams answered).</summary>
    public Counter TcpSent(int port) => CounterFor(_tcpSent, port);

    /// <summary>The counter of bytes received from downstream clients of a listener (what went upstream).</summary>
    public Counter TcpReceived(int port) => CounterFor(_tcpReceived, port);

    /// <summary>One connection's protocol decided (outcome: http1, http2, tls, tcp, timeout).</summary>
    public void ProtocolDetected(string listener, string outcome) => CounterFor(_detections, (listener, outcome)).Increment();

    /// <summary>A TLS passthrough connection closed before forwarding (reason: no_sni, no_match, malformed, timeout).</summary>
    public void SniRejected(string listener, string reason) => CounterFor(_sniRejected, (listener, reason)).Increment();

    /// <summary>An inbound connection's mTLS outcome: accepted, handshake_failed, no_certificate, protocol_refused, plaintext (PERMISSIVE) or plaintext_refused (STRICT).</summary>
    public void MtlsOutcome(string listener, string outcome) => CounterFor(_mtls, (listener, outcome)).Increment();

    /// <summary>An HTTP/2 connection closed for resetting most of its streams early (Listeners/Http2ResetGuard).</summary>
    public void ResetFloodClosed(int port) => CounterFor(_resetFloods, port).Increment();

    /// <summary>
    /// An inbound request or connection refused: reason mtls_required (STRICT, no mTLS), deny_policy
    /// (policy names the DENY that matched) or no_allow_match; protocol http, http2, grpc or tcp.
    /// </summary>
    public void AuthorizationDenied(string reason, string policy, string protocol) =>
        CounterFor(_authzDenied, (reason, policy, protocol)).Increment();

    /// <summary>An AUDIT policy matched a request or connection.</summary>
    public void Audited(Security.Authorization.AuthorizationPolicyRuntime policy) => CounterFor(_authzAudited, policy.Name).Increment();

    private static Counter CounterFor<TKey>(ConcurrentDictionary<TKey, Counter> map, TKey key) where TKey : notnull =>
        map.TryGetValue(key, out var c) ? c : map.GetOrAdd(key, static _ => new Counter());

    private static Counter CounterFor(ConcurrentDictionary<int, Counter> map, int port) =>
        map.TryGetValue(port, out var c) ? c : map.GetOrAdd(port, static _ => new Counter());

    /// <summary>
    /// A number that moves whenever a request completes or a connection opens: the idle memory trimmer
    /// compares two readings (cold path, every few seconds).
    /// </summary>
    public long Activity()
    {
        long total = 0;
        foreach (var series in _requests.Values)
            total += series.Count;
        foreach (var opened in _tcpOpened.Values)
            total += opened.Value;
        return total;
    }

    /// <summary>Full collections the idle memory trimmer ran (weft_memory_trims_total).</summary>
    public Counter MemoryTrims { get; } = new();

    internal IEnumerable<KeyValuePair<RequestLabels, RequestSeries>> Requests => _requests;
    internal IEnumerable<KeyValuePair<int, Counter>> TcpOpened => _tcpOpened;
    internal IEnumerable<KeyValuePair<int, Counter>> TcpClosed => _tcpClosed;
    internal IEnumerable<KeyValuePair<int, Counter>> TcpSentBytes => _tcpSent;
    internal IEnumerable<KeyValuePair<int, Counter>> TcpReceivedBytes => _tcpReceived;
    internal IEnumerable<KeyValuePair<(string Listener, string Outcome), Counter>> Detections => _detections;
    internal IEnumerable<KeyValuePair<(string Listener, string Reason), Counter>> SniRejections => _sniRejected;
    internal IEnumerable<KeyValuePair<(string Listener, string Outcome), Counter>> MtlsOutcomes => _mtls;
    internal IEnumerable<KeyValuePair<int, Counter>> ResetFloods => _resetFloods;
    internal IEnumerable<KeyValuePair<int, Counter>> TcpRejected => _tcpRejected;
    internal IEnumerable<KeyValuePair<(string Reason, string Policy, string Protocol), Counter>> AuthorizationDenials => _authzDenied;
    internal IEnumerable<KeyValuePair<string, Counter>> AuthorizationAudits => _authzAudited;

    private static string[] MakeStatusCodes()
    {
        var codes = new string[600];
        for (var i = 0; i < codes.Length; i++)
            codes[i] = i.ToString(CultureInfo.InvariantCulture);
        return codes;
    }
}
