using Weft.Proxy.Memory;
using System.Runtime.CompilerServices;
using System.Collections.Concurrent;
using Weft.Proxy.Codecs.Http1;
using Weft.Proxy.Config;
using Weft.Proxy.Pipeline;

namespace Weft.Proxy.Upstream;

/// <summary>
/// Every pooled upstream connection, by endpoint authority, so pools outlive config changes (an
/// endpoint that stays keeps its warm connections): the HTTP/1.1 pools here, the HTTP/2 ones in
/// <see cref="Http2Pools"/>. The heartbeat closes HTTP/1.1 connections idle past the upstream idle
/// timeout, ends head reads past their request's deadline and ends waits for a connection past it;
/// pools of endpoints that left the config are dropped when the config is published.
/// </summary>
internal sealed class UpstreamPools : IHeartbeatWatch, IDisposable
{
    private readonly ConcurrentDictionary<string, EndpointPool> _pools = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<UpstreamConnection, byte> _live = new();
    private readonly Connector _connector;
    private readonly Http1Limits _limits;
    private readonly Heartbeat _heartbeat;
    private readonly RuntimeState _state;

    public UpstreamPools(Connector connector, Http1Limits limits, Heartbeat heartbeat, RuntimeState state)
    {
        _connector = connector;
        _limits = limits;
        _heartbeat = heartbeat;
        _state = state;
        Http2 = new Http2Pools(connector, state, heartbeat, Codecs.Http2.Http2Codec.ClientSettings(new Codecs.Kestrel.Http2ListenerLimits()));
        heartbeat.Add(this);
    }

    /// <summary>The HTTP/2 connections of every endpoint (grpc and http2 clusters).</summary>
    public Http2Pools Http2 { get; }

    /// <summary>Open HTTP/1.1 upstream connections of every endpoint (what the idle timeout test counts).</summary>
    public int LiveConnections => _live.Count;

    public EndpointPool For(EndpointRuntime endpoint) =>
        endpoint.Pool ??= _pools.GetOrAdd(endpoint.PoolKey, static (_, e) => new EndpointPool(e.Address, e.Port, e.Mtls), endpoint);

    /// <summary>
    /// A connection to <paramref name="endpoint"/>: the warmest idle one, a new one, or (at the
    /// endpoint's limit) one a finished exchange hands over. Null with the reason in the context's flag:
    /// ConnectFailed, Overflow (too many waiting), Timeout (the request's deadline passed waiting or
    /// connecting) or ClientAborted (the client left while its request waited).
    /// </summary>
    [AsyncMethodBuilder(typeof(DeepPoolingBuilder<>))]
    public async ValueTask<UpstreamConnection?> AcquireAsync(RequestContext ctx, IDownstream down, EndpointRuntime endpoint)
    {
        var limits = ctx.Runtime.Limits;
        var pool = For(endpoint);
        var connection = TakeIdle(pool, limits);
        if (connection is not null)
            return connection;
        if (pool.TryReserve(limits.MaxUpstreamConnectionsPerEndpoint))
            return await ConnectAsync(ctx, pool, endpoint).ConfigureAwait(false);
        return await WaitAsync(ctx, down, pool, endpoint, limits).ConfigureAwait(false);
    }

    /// <summary>The warmest idle connection of the endpoint, when there is one: the common case, with no async step.</summary>
    public UpstreamConnection? TryTakeIdle(RequestContext ctx, EndpointRuntime endpoint) => TakeIdle(For(endpoint), ctx.Runtime.Limits);

    /// <summary>
    /// The endpoint is at its limit: the request waits in line for a connection or a place, until its
    /// deadline (the heartbeat ends the wait) or until its client leaves (the abort watch ends it).
    /// </summary>
    private async ValueTask<UpstreamConnection?> WaitAsync(RequestContext ctx, IDownstream down, EndpointPool pool, EndpointRuntime endpoint, ProxyLimits limits)
    {
        if (ctx.Deadline != 0 && _heartbeat.Now > ctx.Deadline)
        {
            ctx.Flag = ResponseFlag.Timeout;
            return null;
        }
        var waiter = pool.Wait(limits.MaxPendingRequestsPerEndpoint, ctx.Deadline);
        if (waiter is null)
        {
            ctx.Flag = ResponseFlag.Overflow;
            return null;
        }
        down.WatchAborted(waiter);
        if (down.Aborted.IsCancellationRequested)
            waiter.OnClientAborted(down);      // it left before the watch was set
        var end = await waiter.Ended.ConfigureAwait(false);
        down.WatchAborted(null);
        if (end is WaitEnd.Connection or WaitEnd.Place && down.Aborted.IsCancellationRequested)
        {
            // The client left as the wait ended: what it got goes to the next in line.
            if (end == WaitEnd.Connection)
                Return(waiter.Connection!);
            else
                pool.Closed();
            end = WaitEnd.ClientLeft;
        }
        switch (end)
        {
            case WaitEnd.Connection:
                return waiter.Connection;
            case WaitEnd.TimedOut:
                ctx.Flag = ResponseFlag.Timeout;
                return null;
            case WaitEnd.ClientLeft:
                ctx.Flag = ResponseFlag.ClientAborted;
                return null;
            default:
                return await ConnectAsync(ctx, pool, endpoint).ConfigureAwait(false);   // a connection closed and its place is ours
        }
    }

    /// <summary>
    /// A new connection in place of one reserved (a stale pooled one, or the endpoint's free place). The
    /// connect ends at the cluster's connect timeout or at the request's deadline, whichever comes
    /// first; when the deadline ended it, the request has timed out (504), no other endpoint is tried.
    /// </summary>
    public async ValueTask<UpstreamConnection?> ConnectAsync(RequestContext ctx, EndpointPool pool, EndpointRuntime endpoint)
    {
        var timeout = ctx.Cluster!.ConnectTimeout;
        var deadlineFirst = false;
        if (ctx.Deadline != 0)
        {
            var left = _heartbeat.TimeLeft(ctx.Deadline);
            if (left <= TimeSpan.Zero)
            {
                pool.Closed();
                ctx.Flag = ResponseFlag.Timeout;
                return null;
            }
            if (left < timeout)
            {
                timeout = left;
                deadlineFirst = true;
            }
        }
        UpstreamTransport transport;
        try
        {
            transport = await _connector.ConnectAsync(pool.Host, pool.Port, timeout,
                target: pool.Mtls is { } peer ? new MtlsTarget(peer, Security.Mtls.MeshAlpn.Http1) : null).ConfigureAwait(false);
        }
        catch (UpstreamConnectException ex)
        {
            pool.Closed();
            ctx.Flag = deadlineFirst && ex.TimedOut ? ResponseFlag.Timeout : ResponseFlag.ConnectFailed;
            ctx.Error = ex;
            return null;
        }
        var connection = new UpstreamConnection(transport, pool, this, _limits);
        _live.TryAdd(connection, 0);
        return connection;
    }

    private UpstreamConnection? TakeIdle(EndpointPool pool, ProxyLimits limits)
    {
        var stale = StaleList();
        var connection = pool.TryTakeIdle(_heartbeat.Now, _heartbeat.Ticks(limits.UpstreamIdleTimeout), stale);
        if (stale.Count != 0)
        {
            foreach (var s in stale)
                Close(s, reset: false);
            stale.Clear();
        }
        return connection;
    }

    [ThreadStatic]
    private static List<UpstreamConnection>? t_stale;

    private static List<UpstreamConnection> StaleList() => t_stale ??= [];

    /// <summary>An exchange ended cleanly and the connection may carry another.</summary>
    public void Return(UpstreamConnection connection)
    {
        if (!connection.Pool.Return(connection, _heartbeat.Now))
            Close(connection, reset: false);
    }

    /// <summary>Closes a connection that will not be reused: in order, or with a reset when its exchange was cut short.</summary>
    public void Close(UpstreamConnection connection, bool reset)
    {
        if (!_live.TryRemove(connection, out _))
            return;
        connection.Pool.Closed();
        if (reset)
            connection.Reset();
        else
            _ = connection.CloseAsync().AsTask();
    }

    /// <summary>Drops the pools of endpoints no cluster of <paramref name="runtime"/> has (after it is published), HTTP/2 ones included.</summary>
    public void ForgetEndpointsNotIn(ProxyRuntime runtime)
    {
        Http2.ForgetEndpointsNotIn(runtime);
        var live = new HashSet<string>(StringComparer.Ordinal);
        foreach (var cluster in runtime.Clusters.Values)
        {
            foreach (var e in cluster.Endpoints)
                live.Add(e.PoolKey);
        }
        var idle = new List<UpstreamConnection>();
        foreach (var (authority, pool) in _pools)
        {
            if (live.Contains(authority) || !_pools.TryRemove(authority, out _))
                continue;
            pool.Drop(idle);
        }
        foreach (var connection in idle)
            Close(connection, reset: false);
    }

    public void OnHeartbeat(long now)
    {
        foreach (var connection in _live.Keys)
            connection.CheckDeadline(now);
        var maxIdle = _heartbeat.Ticks(_state.Current.Limits.UpstreamIdleTimeout);
        var expired = new List<UpstreamConnection>();
        foreach (var pool in _pools.Values)
        {
            pool.ExpireWaiters(now);
            pool.TakeExpired(now, maxIdle, expired);
        }
        foreach (var connection in expired)
            Close(connection, reset: false);
    }

    public void Dispose()
    {
        _heartbeat.Remove(this);
        Http2.Dispose();
        var idle = new List<UpstreamConnection>();
        foreach (var pool in _pools.Values)
            pool.Drop(idle);
        _pools.Clear();
        foreach (var connection in _live.Keys)
            Close(connection, reset: false);
    }
}
