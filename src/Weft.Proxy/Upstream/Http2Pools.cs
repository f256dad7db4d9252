using System.Collections.Concurrent;
using Weft.Proxy.Codecs.Http2;
using Weft.Proxy.Config;

namespace Weft.Proxy.Upstream;

/// <summary>
/// The HTTP/2 connections of every endpoint of grpc and http2 clusters, on Weft's own codec: per
/// endpoint, streams are multiplexed on the open connections, and one more connection is opened (one
/// connect at a time, through the <see cref="Connector"/>) only when every open one carries as many
/// streams as the endpoint allows. When the config is published, the pools of endpoints that left,
/// and every pool when the upstream idle timeout changed, are retired: their connections take no new
/// stream, finish the ones in flight, then close.
/// </summary>
internal sealed class Http2Pools(Connector connector, RuntimeState state, Heartbeat heartbeat, LocalSettings settings) : IDisposable
{
    private readonly ConcurrentDictionary<string, Http2EndpointPool> _pools = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();      // adding and dropping pools (once per endpoint per config), never a request's way in
    private bool _disposed;

    /// <summary>Endpoints with a pool now (for tests and /clusters).</summary>
    public int Count => _pools.Count;

    /// <summary>The endpoint's pool, found once per runtime (kept on the endpoint); no lock after that.</summary>
    public Http2EndpointPool For(EndpointRuntime endpoint, ProxyRuntime runtime)
    {
        var pool = endpoint.Http2;
        if (pool is not null && !pool.IsRetired)
            return pool;
        return Resolve(endpoint, runtime);
    }

    private Http2EndpointPool Resolve(EndpointRuntime endpoint, ProxyRuntime runtime)
    {
        lock (_lock)
        {
            var idleTimeout = runtime.Limits.UpstreamIdleTimeout;
            // Only the published config adds pools. A request of an older config takes the endpoint's
            // pool as it is, and where there is none a pool of its own, retired once its stream is done.
            var current = !_disposed && ReferenceEquals(runtime, state.Current);
            if (_pools.TryGetValue(endpoint.PoolKey, out var pool) && !pool.IsRetired && (pool.IdleTimeout == idleTimeout || !current))
            {
                endpoint.Http2 = pool;
                return pool;
            }
            pool = new Http2EndpointPool(connector, heartbeat, settings, endpoint.Address, endpoint.Port, idleTimeout, endpoint.Mtls);
            if (current)
            {
                if (_pools.TryGetValue(endpoint.PoolKey, out var replaced))
                    replaced.Retire();
                _pools[endpoint.PoolKey] = pool;
                endpoint.Http2 = pool;
            }
            else
            {
                pool.RetireWhenIdle();
            }
            return pool;
        }
    }

    /// <summary>Retires the pools of endpoints no grpc or http2 cluster of <paramref name="runtime"/> has, and all of them when the idle timeout changed.</summary>
    public void ForgetEndpointsNotIn(ProxyRuntime runtime)
    {
        var live = new HashSet<string>(StringComparer.Ordinal);
        foreach (var cluster in runtime.Clusters.Values)
        {
            if (!cluster.UsesHttp2)
                continue;
            foreach (var e in cluster.Endpoints)
                live.Add(e.PoolKey);
        }
        lock (_lock)
        {
            foreach (var (authority, pool) in _pools)
            {
                if (live.Contains(authority) && pool.IdleTimeout == runtime.Limits.UpstreamIdleTimeout)
                    continue;
                _pools.TryRemove(authority, out _);
                pool.Retire();
            }
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _disposed = true;
            foreach (var pool in _pools.Values)
                pool.Retire();
            _pools.Clear();
        }
    }
}

/// <summary>One endpoint's HTTP/2 connections.</summary>
internal sealed class Http2EndpointPool(Connector connector, Heartbeat heartbeat, LocalSettings settings, string address, int port, TimeSpan idleTimeout,
    Security.Mtls.ExpectedPeer? mtls = null)
    : IHttp2ClientPool
{
    private readonly List<Http2ClientConnection> _connections = [];
    private readonly Lock _gate = new();
    private Task<Http2ClientConnection>? _connecting;
    private bool _retired;
    private bool _retireWhenIdle;

    public TimeSpan IdleTimeout { get; } = idleTimeout;

    public bool IsRetired
    {
        get
        {
            lock (_gate)
                return _retired;
        }
    }

    /// <summary>Open connections (for tests).</summary>
    public int Connections
    {
        get
        {
            lock (_gate)
                return _connections.Count;
        }
    }

    /// <summary>
    /// A connection with a stream slot reserved for the caller: an open one with room, else the one
    /// being connected, else a new one. A failed connect throws <see cref="UpstreamConnectException"/>.
    /// </summary>
    public async ValueTask<Http2ClientConnection> AcquireAsync(TimeSpan connectTimeout, CancellationToken cancellationToken, Http2ClientConnection? avoid = null)
    {
        for (var round = 0; ; round++)
        {
            Task<Http2ClientConnection> connecting;
            lock (_gate)
            {
                foreach (var open in _connections)
                {
                    if (!ReferenceEquals(open, avoid) && open.TryReserve())
                        return open;
                }
                // A connect that finished (its connection is full or gone, or it failed) makes way for a new one.
                if (_connecting is null || _connecting.IsCompleted)
                    _connecting = ConnectAsync(connectTimeout);
                connecting = _connecting;
            }
            var connection = cancellationToken.CanBeCanceled
                ? await connecting.WaitAsync(cancellationToken).ConfigureAwait(false)
                : await connecting.ConfigureAwait(false);
            if (!ReferenceEquals(connection, avoid) && connection.TryReserve())
                return connection;
            if (round > 100)
                throw new UpstreamConnectException("no HTTP/2 connection to " + address + ":" + port + " takes a stream", new IOException("every connection is full or closing"), timedOut: false);
        }
    }

    private async Task<Http2ClientConnection> ConnectAsync(TimeSpan connectTimeout)
    {
        try
        {
            var transport = await connector.ConnectAsync(address, port, connectTimeout,
                target: mtls is { } peer ? new MtlsTarget(peer, Security.Mtls.MeshAlpn.Http2) : null).ConfigureAwait(false);
            var connection = new Http2ClientConnection(transport, transport.Close, this, settings, heartbeat, IdleTimeout);
            connection.Start();
            // Streams go on it once the upstream's SETTINGS say how many it takes.
            try
            {
                await connection.Ready.WaitAsync(connectTimeout).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is TimeoutException or IOException)
            {
                transport.Close();
                throw new UpstreamConnectException("HTTP/2 connection to " + address + ":" + port + ": no SETTINGS from the upstream (" + ex.Message + ")",
                    ex, timedOut: ex is TimeoutException);
            }
            bool retired;
            lock (_gate)
            {
                retired = _retired;
                if (!retired)
                    _connections.Add(connection);
            }
            if (retired)
                connection.Retire();
            return connection;
        }
        catch (Exception ex) when (ex is not UpstreamConnectException)
        {
            throw new UpstreamConnectException("connect to " + address + ":" + port + " failed: " + ex.Message, ex, timedOut: false);
        }
    }

    public void OnCapacity(Http2ClientConnection connection)
    {
        if (_retireWhenIdle && connection.Reserved == 0)
            Retire();
    }

    public void OnRetired(Http2ClientConnection connection)
    {
        lock (_gate)
            _connections.Remove(connection);
    }

    /// <summary>No new stream: every connection finishes what it carries, then closes.</summary>
    public void Retire()
    {
        Http2ClientConnection[] connections;
        lock (_gate)
        {
            _retired = true;
            connections = [.. _connections];
        }
        foreach (var connection in connections)
            connection.Retire();
    }

    /// <summary>A pool of an old config's request: retired once it carries nothing.</summary>
    public void RetireWhenIdle() => _retireWhenIdle = true;
}
