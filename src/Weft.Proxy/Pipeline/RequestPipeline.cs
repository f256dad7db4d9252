using Weft.Proxy.Memory;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using Weft.Protocol.Discovery;
using Weft.Proxy.Codecs.Tcp;
using Weft.Proxy.Routing;
using Weft.Proxy.Telemetry;
using Weft.Proxy.Upstream;

namespace Weft.Proxy.Pipeline;

/// <summary>
/// Every request, whatever codec it arrived on (the lean HTTP/1.1 codec, Kestrel's HTTP/2 and HTTP/1.1,
/// the capture listener's connections), takes these steps in this order, written once here:
/// <code>
///  0 method            CONNECT is refused: 405 connect_unsupported; "delete" for DELETE: 400 bad_method (a codec may have refused the request already: 400 bad_path)
///  1 identity          who is asking (the caller's mTLS certificate inbound; ours outbound)
///  2 authorization     inbound: STRICT mTLS without the caller's mTLS, or the AuthorizationPolicies, 403 denied
///  3 route             the listener's first route whose matches hold      else 404 no_route
///  4 rate limit        (issue 13: an empty slot)
///  5 fault             (issue 13: an empty slot)
///  6 backend           one weighted pick among the route's clusters        else 500 backend_not_found
///  7 request modifiers the route's RequestHeaderModifier
///  8 cluster client    endpoint, connection, deadline, failover            else 503/504 with the reason
///  9 response modifiers, then the answer streamed to the client (or a 101 spliced)
/// 10 local reply       the proxy's own answer when there is no upstream's (or a reset if one had started)
/// 11 telemetry         weft_requests_total and its duration histogram
/// </code>
/// An empty slot is a comment: it costs nothing until a later issue fills it.
/// </summary>
internal sealed class RequestPipeline
{
    private readonly ProxyIdentity _identity;
    private readonly SourceParser _sources = new();
    private readonly ClusterClient _clusters;
    private readonly ProxyMetrics _metrics;
    private readonly Heartbeat _heartbeat;
    private readonly Random _random;

    /// <summary>Envoy's header for the verified client identity, which apps behind Istio already read.</summary>
    public const string ForwardedClientCertHeader = "x-forwarded-client-cert";

    private readonly Security.Authorization.AuthorizationRefusals _refusals;

    public RequestPipeline(ProxyIdentity identity, ClusterClient clusters, ProxyMetrics metrics, Heartbeat heartbeat, Random random,
        Security.Authorization.AuthorizationRefusals refusals)
    {
        _refusals = refusals;
        _identity = identity;
        _clusters = clusters;
        _metrics = metrics;
        _heartbeat = heartbeat;
        _random = random;
        Self = new SourceIdentity(identity.Service, identity.Version);
    }

    /// <summary>This proxy's own workload, the source of what it sends out.</summary>
    public SourceIdentity Self { get; }

    /// <summary>Runs every step for one request. The codec flushes the answer's end afterwards, so whoever sees the end also sees it counted.</summary>
    [AsyncMethodBuilder(typeof(DeepPoolingBuilder))]
    public async ValueTask ServeAsync(RequestContext ctx, IDownstream down)
    {
        var active = _metrics.Active(ctx.IsInbound);
        active.Increment();
        try
        {
            if (ctx.Method == "CONNECT")                                                         // 0
                ctx.Flag = ResponseFlag.ConnectUnsupported;
            else if (MethodNames.IsMiscasedStandard(ctx.Method))
                ctx.Flag = ResponseFlag.BadMethod;
            // A codec may have refused the request already (a path that cannot be routed safely).
            // Steps 8-9 are here, not in a method of their own: this is where a request waits for its
            // upstream, and every async frame on that path is paid again at each resume.
            if (ctx.Flag == ResponseFlag.None && Decide(ctx)
                && await _clusters.SendAsync(ctx, down).ConfigureAwait(false))                  // 8
            {
                var response = ctx.Upstream!;
                var copied = CopyStatus.Done;
                try
                {
                    var head = response.Head;
                    var modifiers = ctx.Route!.ResponseModifiers;                                // 9
                    if (modifiers.Length != 0)
                        HeaderModifierRuntime.Apply(modifiers, head.Headers);
                    ctx.StatusCode = head.Status;
                    if (response.Upgraded is { } tunnel)
                    {
                        copied = await TunnelAsync(ctx, down, head, tunnel).ConfigureAwait(false);
                    }
                    else
                    {
                        down.WriteResponseHead(head);
                        if (response.Body is { } body)
                            copied = await BodyPump.CopyAsync(body, down.ResponseBody).ConfigureAwait(false);
                        if (copied == CopyStatus.Done)
                        {
                            if (response.Trailers is { } trailers)
                                down.WriteTrailers(trailers);
                            ctx.GrpcStatus = response.GrpcStatus;
                        }
                        else
                        {
                            // Only a client that left cancels the upstream's read (the exchange's abort watch).
                            ctx.Flag = copied is CopyStatus.DestinationFailed or CopyStatus.Canceled ? ResponseFlag.ClientAborted : ResponseFlag.ResponseBodyFailed;
                            if (ctx.Flag == ResponseFlag.ResponseBodyFailed)
                                _clusters.RecordFailure(ctx, ctx.Endpoint!);
                        }
                    }
                }
                finally
                {
                    await response.FinishAsync(copied).ConfigureAwait(false);
                }
            }
            if (ctx.Flag != ResponseFlag.None)
                await AnswerAsync(ctx, down).ConfigureAwait(false);                              // 10
            Record(ctx);                                                                         // 11
        }
        finally
        {
            active.Decrement();
        }
    }

    /// <summary>Steps 1-7, synchronous: false with the context's flag set when the request goes no further.</summary>
    private bool Decide(RequestContext ctx)
    {
        ResolveIdentity(ctx);                                                    // 1
        var listener = ctx.Listener;
        if (listener.Direction == Direction.Inbound && !Authorize(ctx, listener))  // 2
            return false;
        var route = ctx.Route = listener.Routes.Select(ctx);                    // 3
        if (route is null)
        {
            ctx.Flag = ResponseFlag.NoRoute;
            return false;
        }
        //                                                                          4 rate limit, 5 fault (issue 13)
        var cluster = ctx.Cluster = PickBackend(route);                          // 6
        if (cluster is null)
        {
            ctx.Flag = ResponseFlag.BackendNotFound;
            return false;
        }
        if (route.RequestModifiers.Length != 0)                                  // 7
            HeaderModifierRuntime.Apply(route.RequestModifiers, ctx.Headers);
        // gRPC calls carry their own deadline (grpc-timeout, issue 13) and may stream for hours.
        if (!ctx.IsGrpc)
            ctx.Deadline = _heartbeat.DeadlineAfter(ctx.Runtime.Limits.RequestTimeout);
        return true;
    }

    /// <summary>
    /// Step 2, inbound. STRICT refuses plaintext at accept; a connection accepted while the port was
    /// PERMISSIVE is refused here, request by request, once the port turns STRICT. Then the workload's
    /// AuthorizationPolicies decide, on the caller's verified identity and the normalized path.
    /// </summary>
    private bool Authorize(RequestContext ctx, Config.ListenerRuntime listener)
    {
        if (listener.MtlsStrict && ctx.PeerIdentity is null)
        {
            ctx.Flag = ResponseFlag.Denied;
            _refusals.MtlsRequired(listener.Key, ctx.Protocol, ctx.Method, ctx.Path);
            return false;
        }
        var table = listener.Authorization;
        if (table.IsEmpty)
            return true;
        if (table.AllowsRequest(ctx.PeerIdentity, ctx.Method, ctx.Path, ctx.Headers, _metrics, out var deniedBy))
            return true;
        ctx.Flag = ResponseFlag.Denied;
        ctx.Denial = deniedBy?.DenialMessage ?? Security.Authorization.AuthorizationTable.NoAllowMessage;
        _refusals.Denied(listener.Key, deniedBy, ctx.Protocol, ctx.Method, ctx.Path, ctx.PeerIdentity);
        return false;
    }

    /// <summary>
    /// Inbound: who is asking is the verified peer certificate of the connection's mTLS, never a header
    /// (docs/security.md, "mTLS between sidecars"). Over mTLS the app gets that identity in
    /// x-forwarded-client-cert, and the caller's x-weft-source adds only its version, and only when it
    /// names the service the certificate proves. Anything unauthenticated loses every x-weft-* header
    /// and is source "unknown". No one but this proxy sets x-forwarded-client-cert for the app.
    /// Outbound and gateway: what arrives from the app or from outside the mesh is not trusted; a
    /// gateway also drops every mesh-internal header.
    /// </summary>
    private void ResolveIdentity(RequestContext ctx)
    {
        var headers = ctx.Headers;
        if (ctx.Listener.Direction == Direction.Inbound)
        {
            headers.Remove(ForwardedClientCertHeader);
            if (ctx.PeerIdentity is not { } peer)
            {
                headers.RemoveWithPrefix("x-weft-");
                ctx.Source = SourceIdentity.None;
                return;
            }
            var count = headers.Count(SourceIdentity.HeaderName);
            var claim = count == 0 ? SourceIdentity.None : _sources.Parse(count == 1 ? headers.Get(SourceIdentity.HeaderName) : null, count);
            if (count != 0)
                headers.Remove(SourceIdentity.HeaderName);
            ctx.Source = claim.Service == peer.Id.ServiceAccount ? claim : peer.Source;
            headers.Set(ForwardedClientCertHeader, peer.ForwardedClientCert);
            return;
        }
        if (ctx.Listener.Direction == Direction.GatewayIngress)
            headers.RemoveWithPrefix("x-weft-");
        headers.Set(SourceIdentity.HeaderName, _identity.SourceHeaderValue);
        ctx.Source = Self;
    }

    /// <summary>One weighted roll per request, whatever protocol the chosen cluster speaks.</summary>
    private Upstream.ClusterRuntime? PickBackend(RouteRuntime route)
    {
        if (route.TotalWeight <= 0)
            return null;
        var backend = route.Backends.Length == 1 ? route.Backends[0] : route.PickBackend(_random.Next(route.TotalWeight));
        return backend?.Cluster;
    }

    /// <summary>
    /// After a 101 the exchange is a tunnel: the client's connection and the upstream's, spliced until
    /// both ends are done. An orderly end (FIN) reaches the other side as a FIN, a failure (a reset, a
    /// peer that stopped reading) as a reset both ways; the flag names the side that failed.
    /// </summary>
    [AsyncMethodBuilder(typeof(DeepPoolingBuilder<>))]
    private async ValueTask<CopyStatus> TunnelAsync(RequestContext ctx, IDownstream down, ResponseHead head, System.IO.Pipelines.IDuplexPipe upstream)
    {
        // Upgraded is the upstream's connection itself: its reset is the splice's abort of that side.
        var connection = (UpstreamTransport)upstream;
        // The splice's own reads see the client's end from here. The exchange's watch would cancel the
        // upstream's read instead, and on .NET's sockets it fires on a FIN too: a half-close, no failure.
        down.WatchAborted(null);
        var client = await down.UpgradeAsync(head).ConfigureAwait(false);
        if (client is null)
        {
            connection.Reset();                  // the app switched protocols for a client that is gone
            ctx.Flag = ResponseFlag.ClientAborted;
            return CopyStatus.DestinationFailed;
        }
        var end = await Splice.RunAsync(_heartbeat, client, down.Reset, connection, ctx.Runtime.Limits.TcpIdleTimeout, null, null, primeClient: false)
            .ConfigureAwait(false);
        switch (end)
        {
            case SpliceEnd.ClientFailed:
                ctx.Flag = ResponseFlag.ClientAborted;
                return CopyStatus.DestinationFailed;
            case SpliceEnd.UpstreamFailed:
                ctx.Flag = ResponseFlag.ResponseBodyFailed;
                _clusters.RecordFailure(ctx, ctx.Endpoint!);
                return CopyStatus.SourceFailed;
            default:
                return CopyStatus.Done;
        }
    }

    /// <summary>
    /// A request whose listener was removed while it arrived, answered before any step: 503
    /// listener_draining. With no listener there is no direction to count it under.
    /// </summary>
    public static ValueTask RefuseUnboundAsync(IDownstream down)
    {
        var reply = LocalReplies.For(ResponseFlag.ListenerDraining, null, null)!.Value;
        return down.WriteLocalReplyAsync(reply.Status, reply.Reason, reply.Message);
    }

    /// <summary>Step 10: the proxy's own answer (status, x-weft-reason, one line), or a reset when the answer had started.</summary>
    [AsyncMethodBuilder(typeof(DeepPoolingBuilder))]
    private static async ValueTask AnswerAsync(RequestContext ctx, IDownstream down)
    {
        // A client that left gets nothing more; its connection (HTTP/1.1) or stream (HTTP/2) is reset, so
        // nothing waits on it if it is in fact still there.
        if (ctx.Flag == ResponseFlag.ClientAborted || down.ResponseStarted)
        {
            // Headers may be out already: a truncated response must not look complete.
            down.Reset();
            return;
        }
        if (LocalReplies.For(ctx.Flag, ctx.Listener, ctx.Cluster, ctx.Denial) is not { } reply)
            return;
        ctx.StatusCode = reply.Status;
        await down.WriteLocalReplyAsync(reply.Status, reply.Reason, reply.Message).ConfigureAwait(false);
    }

    /// <summary>Step 11: one request in weft_requests_total and the duration histogram.</summary>
    public void Record(RequestContext ctx)
    {
        string direction, sourceService, sourceVersion, destinationService, destinationVersion;
        var listener = ctx.Listener;
        if (listener.Direction == Direction.Inbound)
        {
            direction = "inbound";
            sourceService = ctx.Source.Service;
            sourceVersion = ctx.Source.Version;
            destinationService = _identity.Service;
            destinationVersion = _identity.Version;
        }
        else
        {
            // A gateway's requests leave it toward the mesh: counted as outbound, as Istio's gateways do.
            direction = "outbound";
            sourceService = _identity.Service;
            sourceVersion = _identity.Version;
            destinationService = ctx.Cluster?.Service ?? (listener.Service.Length != 0 ? listener.Service : SourceIdentity.Unknown);
            destinationVersion = ctx.Endpoint?.Version is { Length: > 0 } v ? v : SourceIdentity.Unknown;
        }
        var code = ctx.Flag == ResponseFlag.ClientAborted && ctx.StatusCode == 0 ? 0 : ctx.StatusCode;
        var labels = new RequestLabels(direction, sourceService, sourceVersion, destinationService, destinationVersion,
            ProxyMetrics.StatusCodeText(code), GrpcStatusLabel(ctx.GrpcStatus), ctx.Protocol,
            ctx.PeerIdentity is not null || (ctx.Listener.Direction != Direction.Inbound && ctx.Endpoint?.Mtls is not null) ? "true" : "false");
        // A connection's requests mostly repeat the labels of the one before: then the series is known.
        var series = ctx.LastSeries is { } last && labels.SameInstances(ctx.LastLabels) ? last : _metrics.SeriesFor(labels);
        ctx.LastSeries = series;
        ctx.LastLabels = labels;
        series.Record(Stopwatch.GetTimestamp() - ctx.Started);
    }

    /// <summary>gRPC codes are 0-16: anything else an upstream sends is "unknown", so it cannot blow up the series count.</summary>
    private static string GrpcStatusLabel(string value)
    {
        if (value.Length == 0)
            return value;
        return int.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var code) && code <= 16
            ? ProxyMetrics.StatusCodeText(code)
            : SourceIdentity.Unknown;
    }
}
