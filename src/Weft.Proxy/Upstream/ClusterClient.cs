using Weft.Proxy.Memory;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using Weft.Proxy.Pipeline;

namespace Weft.Proxy.Upstream;

/// <summary>
/// The one client of every cluster, for every codec and protocol: it picks the endpoint (the cluster's
/// balancer, which sees endpoint state), opens or reuses connections (HTTP/1.1 pools and HTTP/2
/// connections, both opened by the one <see cref="Connector"/>), moves on to the next endpoint when a
/// connect fails, and keeps the request's deadline. Retries and outlier detection plug into the attempt
/// loop here (issue 13). TCP and TLS passthrough connect through it too.
/// </summary>
internal sealed class ClusterClient : IDisposable
{
    private readonly Http2Client _http2;
    private readonly Connector _connector;
    private readonly ILogger _logger;

    public ClusterClient(Connector connector, UpstreamPools pools, Heartbeat heartbeat, ILogger logger)
    {
        _connector = connector;
        Pools = pools;
        _http2 = new Http2Client(pools.Http2, heartbeat);
        _logger = logger;
    }

    public UpstreamPools Pools { get; }

    public Connector Connector => _connector;

    /// <summary>
    /// Sends the request to an endpoint of the context's cluster; true once its answer's head arrived
    /// (<see cref="RequestContext.Upstream"/>), false with the context's flag saying why there is none.
    /// The HTTP/1.1 exchange is awaited right here (no method in between): every async step on the
    /// path where a request waits for its upstream is paid again at each resume.
    /// </summary>
    [AsyncMethodBuilder(typeof(DeepPoolingBuilder<>))]
    public async ValueTask<bool> SendAsync(RequestContext ctx, IDownstream down)
    {
        var cluster = ctx.Cluster!;
        if (down.UpgradeOffer is not null && cluster.UsesHttp2)
        {
            ctx.Flag = ResponseFlag.UpgradeUnsupported;
            return false;
        }
        var endpoints = cluster.Endpoints;
        if (endpoints.Length == 0)
        {
            ctx.Flag = ResponseFlag.NoEndpoints;
            return false;
        }
        var start = cluster.Balancer.PickStart(endpoints);
        for (var attempt = 0; ; attempt++)
        {
            var endpoint = endpoints[(start + attempt) % endpoints.Length];
            ctx.Endpoint = endpoint;
            ctx.Attempts++;
            endpoint.Stats.RecordRequest();
            endpoint.Stats.AttemptStarted();
            bool answered;
            try
            {
                if (cluster.UsesHttp2)
                {
                    ctx.Upstream = await _http2.SendAsync(ctx, down, endpoint).ConfigureAwait(false);
                    answered = ctx.Upstream is not null;
                }
                else
                {
                    var connection = Pools.TryTakeIdle(ctx, endpoint) ?? await Pools.AcquireAsync(ctx, down, endpoint).ConfigureAwait(false);
                    answered = false;
                    if (connection is not null)
                    {
                        var exchange = connection.Exchange;
                        answered = await exchange.StartAsync(ctx, down, endpoint).ConfigureAwait(false);
                        if (!answered && exchange.FailedStale(ctx))
                        {
                            // The upstream closed this pooled connection meanwhile; nothing reached an app: once more on a new one.
                            ctx.Flag = ResponseFlag.None;
                            ctx.Error = null;
                            var fresh = connection.Pool.TryReserve(ctx.Runtime.Limits.MaxUpstreamConnectionsPerEndpoint)
                                ? await Pools.ConnectAsync(ctx, connection.Pool, endpoint).ConfigureAwait(false)
                                : null;
                            if (fresh is null && ctx.Flag == ResponseFlag.None)
                                ctx.Flag = ResponseFlag.UpstreamReset;
                            if (fresh is not null)
                            {
                                exchange = fresh.Exchange;
                                answered = await exchange.StartAsync(ctx, down, endpoint).ConfigureAwait(false);
                            }
                        }
                        if (answered)
                            ctx.Upstream = exchange;
                    }
                }
            }
            finally
            {
                endpoint.Stats.AttemptEnded();
            }
            if (answered)
                return true;
            RecordFailure(ctx, endpoint);
            // A connect that failed sent nothing: the next endpoint may serve (each is tried once).
            // Retries and outlier detection (issue 13) plug in here.
            if (ctx.Flag == ResponseFlag.ConnectFailed && attempt + 1 < endpoints.Length)
            {
                ctx.Flag = ResponseFlag.None;
                continue;
            }
            return false;
        }
    }

    /// <summary>
    /// A connection to an endpoint of <paramref name="cluster"/> for opaque bytes (TCP, TLS passthrough):
    /// the balancer's pick, then the next endpoint while connects fail. Null when none accepted.
    /// </summary>
    public async ValueTask<(UpstreamTransport? Transport, EndpointRuntime? Endpoint)> ConnectAsync(ClusterRuntime cluster, int listenerPort)
    {
        var endpoints = cluster.Endpoints;
        if (endpoints.Length == 0)
            return (null, null);
        var start = cluster.Balancer.PickStart(endpoints);
        for (var attempt = 0; attempt < endpoints.Length; attempt++)
        {
            var endpoint = endpoints[(start + attempt) % endpoints.Length];
            endpoint.Stats.RecordRequest();
            try
            {
                return (await _connector.ConnectAsync(endpoint.Address, endpoint.Port, cluster.ConnectTimeout, halfClose: true,
                    target: endpoint.Mtls is { } peer ? new MtlsTarget(peer, Security.Mtls.MeshAlpn.Tcp) : null).ConfigureAwait(false), endpoint);
            }
            catch (UpstreamConnectException ex)
            {
                endpoint.Stats.RecordFailure("ConnectFailed: " + ex.Message);
                Log.TcpForwardFailed(_logger, listenerPort, cluster.Name, ex);
            }
        }
        return (null, null);
    }

    /// <summary>
    /// A failed attempt, logged, and counted against the endpoint (its failures and last error) unless
    /// the client is to blame (it left, or its body broke).
    /// </summary>
    public void RecordFailure(RequestContext ctx, EndpointRuntime endpoint)
    {
        if (ctx.Flag is not (ResponseFlag.ClientAborted or ResponseFlag.RequestBodyFailed))
            endpoint.Stats.RecordFailure(ctx.Flag.ToString() + ": " + (ctx.Error?.Message ?? ""));
        Log.ForwardFailed(_logger, endpoint.Authority, ctx.Flag, ctx.Error);
    }

    public void Dispose()
    {
        Pools.Dispose();
        _connector.Dispose();
    }
}
