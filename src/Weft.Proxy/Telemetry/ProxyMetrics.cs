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
    string Mtls);

/// <summary>A counter cell: one long per label set, bumped with Interlocked, never locked.</summary>
internal sealed class Counter
{
    private long _value;
    public long Value => Volatile.Read(ref _value);
    public void Increment() => Interlocked.Increment(ref _value);
}

/// <summary>
/// The proxy's metrics. Counters live in ConcurrentDictionaries keyed by label sets: after the first
/// request of a label set, recording is a lookup plus one Interlocked increment.
/// </summary>
internal sealed class ProxyMetrics
{
    // Status codes as strings made once: no int formatting per request.
    private static readonly string[] StatusCodes = MakeStatusCodes();

    private readonly ConcurrentDictionary<RequestLabels, Counter> _requests = new();
    private readonly ConcurrentDictionary<int, Counter> _tcpOpened = new();
    private readonly ConcurrentDictionary<int, Counter> _tcpClosed = new();
    private long _configRevision;

    public long ConfigRevision
    {
        get => Volatile.Read(ref _configRevision);
        set => Volatile.Write(ref _configRevision, value);
    }

    public static string StatusCodeText(int code) =>
        (uint)code < (uint)StatusCodes.Length ? StatusCodes[code] : code.ToString(CultureInfo.InvariantCulture);

    public void RecordRequest(in RequestLabels labels)
    {
        if (!_requests.TryGetValue(labels, out var counter))
            counter = _requests.GetOrAdd(labels, static _ => new Counter());
        counter.Increment();
    }

    public void ConnectionOpened(int port) => CounterFor(_tcpOpened, port).Increment();

    public void ConnectionClosed(int port) => CounterFor(_tcpClosed, port).Increment();

    private static Counter CounterFor(ConcurrentDictionary<int, Counter> map, int port) =>
        map.TryGetValue(port, out var c) ? c : map.GetOrAdd(port, static _ => new Counter());

    internal IEnumerable<KeyValuePair<RequestLabels, Counter>> Requests => _requests;
    internal IEnumerable<KeyValuePair<int, Counter>> TcpOpened => _tcpOpened;
    internal IEnumerable<KeyValuePair<int, Counter>> TcpClosed => _tcpClosed;

    private static string[] MakeStatusCodes()
    {
        var codes = new string[600];
        for (var i = 0; i < codes.Length; i++)
            codes[i] = i.ToString(CultureInfo.InvariantCulture);
        return codes;
    }
}
