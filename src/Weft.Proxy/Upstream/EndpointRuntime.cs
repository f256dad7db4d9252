using System.Net;

namespace Weft.Proxy.Upstream;

/// <summary>One endpoint of a cluster, as the request path needs it: ready-made strings, no parsing per request.</summary>
internal sealed class EndpointRuntime
{
    public EndpointRuntime(string address, int port, string instanceId, string service, string version, EndpointStats stats,
        Security.Mtls.ExpectedPeer? mtls = null)
    {
        Mtls = mtls;
        Address = address;
        Port = port;
        InstanceId = instanceId;
        Service = service;
        Version = version;
        Stats = stats;
        var host = IPAddress.TryParse(address, out var ip) && ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6
            ? "[" + address + "]"
            : address;
        Authority = host + ":" + port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        BaseUri = "http://" + Authority;
        // Pools are kept by this: an address that comes to stand for another identity gets new connections.
        PoolKey = mtls is { } m ? Authority + " " + m.Namespace + "/" + m.ServiceAccount : Authority;
    }

    /// <summary>A sidecar's endpoint: connections are mTLS and the server must prove this identity; null: plaintext (the local app).</summary>
    public Security.Mtls.ExpectedPeer? Mtls { get; }

    /// <summary>What its connection pools are kept by: the authority, and the identity mTLS expects there.</summary>
    public string PoolKey { get; }

    public string Address { get; }
    public int Port { get; }
    public string InstanceId { get; }
    public string Service { get; }
    public string Version { get; }

    /// <summary>"host:port", IPv6 bracketed.</summary>
    public string Authority { get; }

    /// <summary>"http://host:port": the request URI is this plus the path and query.</summary>
    public string BaseUri { get; }

    /// <summary>Outlives config changes: the same endpoint of the same cluster keeps its counters.</summary>
    public EndpointStats Stats { get; }

    /// <summary>Its HTTP/1.1 connection pool, found once per runtime (pools are kept by authority, across runtimes).</summary>
    internal EndpointPool? Pool;

    /// <summary>Its HTTP/2 pool, found once per runtime (kept by authority across runtimes, as the HTTP/1.1 one).</summary>
    internal Http2EndpointPool? Http2;
}

/// <summary>Per-endpoint counters for /clusters and the balancer; written with Interlocked, read without locks.</summary>
internal sealed class EndpointStats
{
    private long _requests;
    private long _failures;
    private int _active;
    private string? _lastError;

    public long Requests => Volatile.Read(ref _requests);

    /// <summary>Attempts on this endpoint in flight now (what a least-request balancer compares).</summary>
    public int Active => Volatile.Read(ref _active);

    public void AttemptStarted() => Interlocked.Increment(ref _active);

    public void AttemptEnded() => Interlocked.Decrement(ref _active);
    public long Failures => Volatile.Read(ref _failures);
    public string? LastError => Volatile.Read(ref _lastError);

    public void RecordRequest() => Interlocked.Increment(ref _requests);

    public void RecordFailure(string error)
    {
        Interlocked.Increment(ref _failures);
        Volatile.Write(ref _lastError, error);
    }
}
