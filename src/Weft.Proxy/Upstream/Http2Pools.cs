using System.Collections.Concurrent;
using System.Net;
using Weft.Proxy.Config;

namespace Weft.Proxy.Upstream;

/// <summary>
/// The HTTP/2 connections of every endpoint of grpc and http2 clusters: one SocketsHttpHandler per
/// endpoint (it multiplexes requests as streams on its connections and opens one more only when every
/// open one has as many streams in flight as the endpoint allows), connected through the
/// <see cref="Connector"/> and made with the config's upstream idle timeout. A handler per endpoint, not
/// one for all, so that the pool of an endpoint that left the config can be dropped, as an HTTP/1.1 one
/// is: when the config is published, the handlers of endpoints that left, and every handler when the
/// idle timeout changed, are retired. A retired handler is disposed once no request is inside its
/// SendAsync; its idle connections close then, busy ones once their streams end (HTTP/2's graceful
/// shutdown), so no request is cut short.
/// </summary>
internal sealed class Http2Pools(Connector connector, RuntimeState state) : IDisposable
{
    private readonly ConcurrentDictionary<string, Http2Pool> _pools = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();      // adding and dropping pools (once per endpoint per config), never a request's way in
    private bool _disposed;

    /// <summary>Endpoints with a pool now (for tests and /clusters).</summary>
    public int Count => _pools.Count;

    /// <summary>
    /// The endpoint's pool, entered: the caller sends one request on it, then <see cref="Http2Pool.Exit"/>.
    /// Found once per runtime (kept on the endpoint); no lock or allocation on the way in after that.
    /// </summary>
    public Http2Pool Enter(EndpointRuntime endpoint, ProxyRuntime runtime)
    {
        var pool = endpoint.Http2;
        if (pool is not null && pool.TryEnter())
            return pool;
        return Resolve(endpoint, runtime);
    }

    private Http2Pool Resolve(EndpointRuntime endpoint, ProxyRuntime runtime)
    {
        lock (_lock)
        {
            var idleTimeout = runtime.Limits.UpstreamIdleTimeout;
            // Only the published config adds pools (checked under the lock ForgetEndpointsNotIn takes,
            // after publishing it). A request of an older config takes the endpoint's pool as it is,
            // and where there is none (its endpoint may have left) a pool of its own, dropped once its
            // request is sent.
            var current = !_disposed && ReferenceEquals(runtime, state.Current);
            if (_pools.TryGetValue(endpoint.Authority, out var pool) && (pool.IdleTimeout == idleTimeout || !current) && pool.TryEnter())
            {
                endpoint.Http2 = pool;
                return pool;
            }
            pool = new Http2Pool(Create(idleTimeout), idleTimeout);
            pool.TryEnter();
            if (current)
            {
                if (_pools.TryGetValue(endpoint.Authority, out var replaced))
                    replaced.Retire();
                _pools[endpoint.Authority] = pool;
                endpoint.Http2 = pool;
            }
            else
            {
                pool.Retire();
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
                live.Add(e.Authority);
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

    private HttpMessageInvoker Create(TimeSpan idleTimeout)
    {
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            // The connect callback keeps each cluster's connect timeout (one endpoint may serve two clusters).
            ConnectTimeout = Timeout.InfiniteTimeSpan,
            PooledConnectionIdleTimeout = idleTimeout,
            EnableMultipleHttp2Connections = true,
            // Trace headers are the proxy's business (later: its own spans), not the handler's.
            ActivityHeadersPropagator = null,
            ConnectCallback = async (context, token) =>
            {
                var timeout = context.InitialRequestMessage is Http2Request request ? request.ConnectTimeout : ClusterRuntime.DefaultConnectTimeout;
                var transport = await connector.ConnectAsync(context.DnsEndPoint.Host, context.DnsEndPoint.Port, timeout, token, halfClose: true)
                    .ConfigureAwait(false);
                return transport.AsStream();
            },
        };
        return new HttpMessageInvoker(handler, disposeHandler: true);
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

/// <summary>
/// One endpoint's HTTP/2 handler, counted: the pools' reference until it is retired, and one per request
/// inside its SendAsync (a disposed handler refuses new requests, while streams already open go on).
/// </summary>
internal sealed class Http2Pool(HttpMessageInvoker invoker, TimeSpan idleTimeout)
{
    private int _references = 1;
    private int _retired;

    public HttpMessageInvoker Invoker { get; } = invoker;

    /// <summary>The upstream idle timeout its handler was made with.</summary>
    public TimeSpan IdleTimeout { get; } = idleTimeout;

    /// <summary>False once it is disposed (retired, and its last request sent).</summary>
    public bool TryEnter()
    {
        var seen = Volatile.Read(ref _references);
        while (seen > 0)
        {
            var before = Interlocked.CompareExchange(ref _references, seen + 1, seen);
            if (before == seen)
                return true;
            seen = before;
        }
        return false;
    }

    public void Exit()
    {
        if (Interlocked.Decrement(ref _references) == 0)
            Invoker.Dispose();
    }

    /// <summary>No new request will look it up; disposed once the ones inside have been sent.</summary>
    public void Retire()
    {
        if (Interlocked.Exchange(ref _retired, 1) == 0)
            Exit();
    }
}

/// <summary>A request to an HTTP/2 upstream, carrying its cluster's connect timeout to the connect callback.</summary>
internal sealed class Http2Request : HttpRequestMessage
{
    public TimeSpan ConnectTimeout { get; init; }
}
