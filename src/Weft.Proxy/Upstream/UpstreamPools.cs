using System.Runtime.CompilerServices;
using System.Collections.Concurrent;
using Weft.Proxy.Codecs.Http1;
using Weft.Proxy.Config;
using Weft.Proxy.Pipeline;

namespace Weft.Proxy.Upstream;

/// <summary>
/// Every pooled HTTP/1.1 upstream connection, by endpoint authority, so pools outlive config changes
/// (an endpoint that stays keeps its warm connections). The heartbeat closes connections idle past the
/// upstream idle timeout and ends head reads past their request's deadline; pools of endpoints that
/// left the config are dropped when the config is published.
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
        heartbeat.Add(this);
    }

    /// <summary>Open upstream connections of every endpoint (what the idle timeout test counts).</summary>
    public int LiveConnections => _live.Count;


    public EndpointPool For(EndpointRuntime endpoint) =>
        endpoint.Pool ??= _pools.GetOrAdd(endpoint.Authority, static (_, e) => new EndpointPool(e.Address, e.Port), endpoint);

    /// <summary>
    /// A connection to <paramref name="endpoint"/>: the warmest idle one, a new one, or (at the
    /// endpoint's limit) one a finished exchange hands over. Null with the reason in the context's flag:
    /// ConnectFailed, Overflow (too many waiting) or Timeout (the request's deadline passed waiting).
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<UpstreamConnection?> AcquireAsync(RequestContext ctx, EndpointRuntime endpoint)
    {
        var limits = ctx.Runtime.Limits;
        var pool = For(endpoint);
        var connection = TakeIdle(pool, limits);
        if (connection is not null)
            return connection;
        return await ReserveOrWaitAsync(ctx, pool, endpoint, limits).ConfigureAwait(false);
    }

    /// <summary>The warmest idle connection of the endpoint, when there is one: the common case, with no async step.</summary>
    public UpstreamConnection? TryTakeIdle(RequestContext ctx, EndpointRuntime endpoint) => TakeIdle(For(endpoint), ctx.Runtime.Limits);

    private async ValueTask<UpstreamConnection?> ReserveOrWaitAsync(RequestContext ctx, EndpointPool pool, EndpointRuntime endpoint, ProxyLimits limits)
    {
        UpstreamConnection? connection;
        if (!pool.TryReserve(limits.MaxUpstreamConnectionsPerEndpoint))
        {
            var waiting = pool.Wait(limits.MaxPendingRequestsPerEndpoint);
            if (waiting is null)
            {
                ctx.Flag = ResponseFlag.Overflow;
                return null;
            }
            try
            {
                var remaining = ctx.Deadline == 0 ? Timeout.InfiniteTimeSpan : _heartbeat.Time.GetElapsedTime(_heartbeat.Now, ctx.Deadline);
                connection = ctx.Deadline == 0 || remaining > TimeSpan.Zero
                    ? await waiting.WaitAsync(remaining, _heartbeat.Time).ConfigureAwait(false)
                    : throw new TimeoutException();
            }
            catch (TimeoutException)
            {
                // Whatever the pool hands this waiter later is handed back (Return skips finished waiters).
                AbandonWaiter(pool, waiting);
                ctx.Flag = ResponseFlag.Timeout;
                return null;
            }
            if (connection is not null)
                return connection;
            // Null: a connection closed and its place is ours.
        }
        return await ConnectAsync(ctx, pool, endpoint).ConfigureAwait(false);
    }

    /// <summary>A waiter that gave up still gets what the pool hands it later: a connection goes back, a place is freed.</summary>
    private void AbandonWaiter(EndpointPool pool, Task<UpstreamConnection?> waiting) =>
        _ = waiting.ContinueWith(t =>
        {
            if (t.Result is { } connection)
                Return(connection);
            else
                pool.Closed();
        }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

    /// <summary>A new connection in place of one reserved (a stale pooled one, or the endpoint's free place).</summary>
    public async ValueTask<UpstreamConnection?> ConnectAsync(RequestContext ctx, EndpointPool pool, EndpointRuntime endpoint)
    {
        UpstreamTransport transport;
        try
        {
            transport = await _connector.ConnectAsync(pool.Host, pool.Port, ctx.Cluster!.ConnectTimeout).ConfigureAwait(false);
        }
        catch (UpstreamConnectException ex)
        {
            pool.Closed();
            ctx.Flag = ResponseFlag.ConnectFailed;
            ctx.Error = ex;
            return null;
        }
        var connection = new UpstreamConnection(transport, pool, _limits);
        _live.TryAdd(connection, 0);
        return connection;
    }

    private (ProxyLimits Limits, long Ticks) _idleTimeout = (ProxyLimits.Default, -1);

    private UpstreamConnection? TakeIdle(EndpointPool pool, ProxyLimits limits)
    {
        var idle = _idleTimeout;
        if (!ReferenceEquals(idle.Limits, limits) || idle.Ticks < 0)
            _idleTimeout = idle = (limits, _heartbeat.Ticks(limits.UpstreamIdleTimeout));
        List<UpstreamConnection>? stale = null;
        var connection = pool.TryTakeIdle(_heartbeat.Now, idle.Ticks, stale ??= StaleList());
        foreach (var s in stale)
            Close(s, reset: false);
        stale.Clear();
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

    /// <summary>Drops the pools of endpoints no cluster of <paramref name="runtime"/> has (after it is published).</summary>
    public void ForgetEndpointsNotIn(ProxyRuntime runtime)
    {
        var live = new HashSet<string>(StringComparer.Ordinal);
        foreach (var cluster in runtime.Clusters.Values)
        {
            foreach (var e in cluster.Endpoints)
                live.Add(e.Authority);
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
            pool.TakeExpired(now, maxIdle, expired);
        foreach (var connection in expired)
            Close(connection, reset: false);
    }

    public void Dispose()
    {
        _heartbeat.Remove(this);
        var idle = new List<UpstreamConnection>();
        foreach (var pool in _pools.Values)
            pool.Drop(idle);
        _pools.Clear();
        foreach (var connection in _live.Keys)
            Close(connection, reset: false);
    }
}
