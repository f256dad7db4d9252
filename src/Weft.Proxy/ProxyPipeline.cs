using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Weft.Protocol.Discovery;
using Weft.Proxy.Balancing;
using Weft.Proxy.Config;
using Weft.Proxy.Http;
using Weft.Proxy.Listeners;
using Weft.Proxy.Routing;
using Weft.Proxy.Telemetry;

namespace Weft.Proxy;

/// <summary>
/// The request pipeline, in order, in one place:
///   1. snapshot the runtime (the request keeps it to the end, whatever config arrives meanwhile);
///      while draining, an HTTP/1 response gets `Connection: close`;
///   2. find the listener by the local port (a capture listener: the one for the connection's original destination);
///   3. identity: inbound reads and strips x-weft-source; outbound and gateway replace it with ours;
///   4. route: first route of the listener's table whose matches hold (else 404 no_route);
///   5. backend: weighted pick among the route's clusters (no weight or unknown cluster: 500);
///   6. request header modifiers of the route;
///   7. balance + forward: round robin over the cluster's endpoints, next endpoint on connect failure;
///      an HTTP/1.1 Upgrade (WebSocket) answered with 101 becomes a tunnel until either side ends;
///   8. answer failures with a status + x-weft-reason (or abort a response already started);
///   9. count the request in weft_requests_total and its time in weft_request_duration_seconds;
///  10. an HTTP/2 request counts toward its connection's reset budget (rapid reset: Listeners/Http2ResetGuard).
/// Each step is a small method so that later steps (authz, retries, mTLS) slot in visibly.
/// </summary>
internal sealed class ProxyPipeline
{
    public const string SourceHeader = "x-weft-source";
    public const string ReasonHeader = "x-weft-reason";
    private const string Unknown = "unknown";
    private const int MaxCachedSources = 1024;

    private readonly RuntimeState _state;
    private readonly ProxyIdentity _identity;
    private readonly HttpForwarder _forwarder;
    private readonly ProxyMetrics _metrics;
    private readonly Random _random;

    // x-weft-source values repeat (one per calling workload): parse each once.
    private readonly ConcurrentDictionary<string, SourceIdentity> _sources = new(StringComparer.Ordinal);

    public ProxyPipeline(RuntimeState state, ProxyIdentity identity, HttpForwarder forwarder, ProxyMetrics metrics, Random random)
    {
        _state = state;
        _identity = identity;
        _forwarder = forwarder;
        _metrics = metrics;
        _random = random;
        Self = new SourceIdentity(identity.Service, identity.Version);
    }

    internal SourceIdentity Self { get; }

    internal ProxyMetrics Metrics => _metrics;

    internal sealed record SourceIdentity(string Service, string Version);

    public async Task HandleAsync(HttpContext context, int port)
    {
        var started = Stopwatch.GetTimestamp();
        var runtime = _state.Current;                                           // 1
        if (_state.IsDraining)
            CloseConnectionAfterResponse(context);
        if (!runtime.ListenersByPort.TryGetValue(port, out var listener))       // 2
        {
            await WriteErrorAsync(context, StatusCodes.Status503ServiceUnavailable, "listener_draining",
                "this listener is being removed\n").ConfigureAwait(false);
            return;
        }
        if (listener.Capture is not null)                                        // 2b: transparent interception
            listener = Interception.CaptureDispatch.ListenerOf(context) ?? listener;

        var active = _metrics.Active(listener.Direction == Direction.Inbound);
        active.Increment();
        try
        {
            await HandleAsync(context, listener, started).ConfigureAwait(false);
        }
        finally
        {
            active.Decrement();
        }
    }

    private async Task HandleAsync(HttpContext context, Config.ListenerRuntime listener, long started)
    {
        var source = ResolveSource(context.Request.Headers, listener.Direction); // 3
        var route = listener.Routes.Select(context.Request);                      // 4
        ForwardOutcome outcome;
        ClusterRuntime? cluster = null;
        if (route is null)
        {
            outcome = new ForwardOutcome(ForwardResult.NoRoute, null, "", null);
        }
        else
        {
            cluster = PickCluster(route);                                         // 5
            if (cluster is null)
            {
                outcome = new ForwardOutcome(ForwardResult.BackendNotFound, null, "", null);
            }
            else
            {
                if (route.RequestModifiers.Length != 0)                          // 6
                    HeaderModifierRuntime.Apply(route.RequestModifiers, context.Request.Headers);
                outcome = await _forwarder.ForwardAsync(context, cluster, route.ResponseModifiers).ConfigureAwait(false); // 7
            }
        }

        if (outcome.Result != ForwardResult.Success)                              // 8
            await AnswerFailureAsync(context, outcome.Result, listener, cluster).ConfigureAwait(false);
        var elapsed = Stopwatch.GetTimestamp() - started;
        Record(context, listener, source, cluster, outcome, elapsed);            // 9
        if (HttpProtocol.IsHttp2(context.Request.Protocol))                      // 10
            Http2ResetGuard.OnStreamEnded(context, outcome.Result == ForwardResult.ClientAborted, elapsed);
    }

    /// <summary>
    /// Draining (cold): an HTTP/1 client is told to take its next request elsewhere. Set when the response
    /// starts, so error answers (which clear headers) carry it too. HTTP/2 learns it from Kestrel's GOAWAY.
    /// A 101 keeps its Connection: Upgrade: the connection is a tunnel from then on, and the drain's
    /// deadline ends it.
    /// </summary>
    private static void CloseConnectionAfterResponse(HttpContext context)
    {
        var protocol = context.Request.Protocol;
        if (!HttpProtocol.IsHttp11(protocol) && !HttpProtocol.IsHttp10(protocol))
            return;
        context.Response.OnStarting(static state =>
        {
            var response = (HttpResponse)state;
            if (response.StatusCode != StatusCodes.Status101SwitchingProtocols)
                response.Headers.Connection = "close";
            return Task.CompletedTask;
        }, context.Response);
    }

    private SourceIdentity ResolveSource(IHeaderDictionary headers, Direction direction)
    {
        if (direction == Direction.Inbound)
        {
            var value = headers[SourceHeader];
            if (value.Count == 0)
                return UnknownSource;
            headers.Remove(SourceHeader);
            return ParseSource(value.ToString());
        }
        // Outbound and gateway: what arrives from the app or from outside the mesh is not trusted.
        if (direction == Direction.GatewayIngress)
            RemoveMeshHeaders(headers);
        headers[SourceHeader] = _identity.SourceHeaderValue;
        return Self;
    }

    /// <summary>Mesh-internal headers (x-weft-*) never come from outside the mesh.</summary>
    private static void RemoveMeshHeaders(IHeaderDictionary headers)
    {
        List<string>? names = null;
        foreach (var header in headers)
        {
            if (header.Key.StartsWith("x-weft-", StringComparison.OrdinalIgnoreCase))
                (names ??= new List<string>()).Add(header.Key);
        }
        if (names is null)
            return;
        foreach (var name in names)
            headers.Remove(name);
    }

    internal static readonly SourceIdentity UnknownSource = new(Unknown, Unknown);

    internal SourceIdentity ParseSource(string value)
    {
        if (_sources.TryGetValue(value, out var known))
            return known;
        return ParseSourceSlow(value);
    }

    private SourceIdentity ParseSourceSlow(string value)
    {
        var parts = value.Split(';');
        // Bounded: a caller sending random values must grow neither this cache nor the metric series
        // without end. Past the bound, new sources count as unknown (until mTLS identities replace the header).
        if (_sources.Count >= MaxCachedSources)
            return UnknownSource;
        var parsed = new SourceIdentity(
            parts.Length > 0 && parts[0].Length > 0 ? parts[0] : Unknown,
            parts.Length > 1 && parts[1].Length > 0 ? parts[1] : Unknown);
        _sources.TryAdd(value, parsed);
        return parsed;
    }

    internal ClusterRuntime? PickCluster(RouteRuntime route)
    {
        if (route.TotalWeight <= 0)
            return null;
        var backend = route.Backends.Length == 1 ? route.Backends[0] : route.PickBackend(_random.Next(route.TotalWeight));
        return backend?.Cluster;
    }

    private static Task AnswerFailureAsync(HttpContext context, ForwardResult result, Config.ListenerRuntime listener, ClusterRuntime? cluster)
    {
        // ClientAborted: nobody to answer. ResponseBodyFailed: the forwarder aborted the response.
        var answer = FailureAnswer(result, listener, cluster);
        return answer is { } a ? WriteErrorAsync(context, a.Status, a.Reason, a.Message) : Task.CompletedTask;
    }

    /// <summary>The status, x-weft-reason and one-line body a failed request gets (null: nothing to answer). Shared with the lean HTTP/1 path.</summary>
    internal static (int Status, string Reason, string Message)? FailureAnswer(ForwardResult result, Config.ListenerRuntime listener, ClusterRuntime? cluster) => result switch
    {
        ForwardResult.NoRoute => (StatusCodes.Status404NotFound, "no_route", listener.NoRouteMessage),
        ForwardResult.BackendNotFound => (StatusCodes.Status500InternalServerError, "backend_not_found",
            "the route's backend is not configured or carries no weight\n"),
        ForwardResult.NoEndpoints => (StatusCodes.Status503ServiceUnavailable, "no_endpoints", cluster!.NoEndpointsMessage),
        ForwardResult.ConnectFailed => (StatusCodes.Status503ServiceUnavailable, "connect_failed", cluster!.ConnectFailedMessage),
        ForwardResult.UpstreamReset => (StatusCodes.Status503ServiceUnavailable, "upstream_reset", cluster!.UpstreamResetMessage),
        ForwardResult.RequestBodyFailed => (StatusCodes.Status400BadRequest, "request_body_failed", "reading the request body failed\n"),
        ForwardResult.UpgradeUnsupported => (StatusCodes.Status502BadGateway, "upgrade_unsupported", cluster!.UpgradeUnsupportedMessage),
        _ => null,
    };

    private static async Task WriteErrorAsync(HttpContext context, int status, string reason, string message)
    {
        var response = context.Response;
        if (response.HasStarted)
        {
            context.Abort();
            return;
        }
        response.Clear();
        response.StatusCode = status;
        response.Headers[ReasonHeader] = reason;
        response.ContentType = "text/plain; charset=utf-8";
        try
        {
            await response.WriteAsync(message, context.RequestAborted).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException)
        {
            // The client left while we explained why; nothing more to do for it.
        }
    }

    private void Record(HttpContext context, Config.ListenerRuntime listener, SourceIdentity source, ClusterRuntime? cluster, in ForwardOutcome outcome, long elapsedTicks)
    {
        var code = outcome.Result == ForwardResult.ClientAborted && !context.Response.HasStarted ? 0 : context.Response.StatusCode;
        Record(listener, source, cluster, outcome.Endpoint, code, GrpcStatusLabel(outcome.GrpcStatus), ProtocolOf(context.Request), elapsedTicks);
    }

    /// <summary>One request in weft_requests_total and the duration histogram; shared with the lean HTTP/1 path.</summary>
    internal void Record(Config.ListenerRuntime listener, SourceIdentity source, ClusterRuntime? cluster, EndpointRuntime? endpoint,
        int code, string grpcStatusLabel, string protocol, long elapsedTicks)
    {
        string direction, sourceService, sourceVersion, destinationService, destinationVersion;
        if (listener.Direction == Direction.Inbound)
        {
            direction = "inbound";
            sourceService = source.Service;
            sourceVersion = source.Version;
            destinationService = _identity.Service;
            destinationVersion = _identity.Version;
        }
        else
        {
            // A gateway's requests leave it toward the mesh: counted as outbound, as Istio's gateways do.
            direction = "outbound";
            sourceService = _identity.Service;
            sourceVersion = _identity.Version;
            destinationService = cluster?.Service ?? (listener.Service.Length != 0 ? listener.Service : Unknown);
            destinationVersion = endpoint?.Version ?? Unknown;
            if (destinationVersion.Length == 0)
                destinationVersion = Unknown;
        }
        _metrics.RecordRequest(new RequestLabels(direction, sourceService, sourceVersion, destinationService, destinationVersion,
            ProxyMetrics.StatusCodeText(code), grpcStatusLabel, protocol, "false"), elapsedTicks);
    }

    /// <summary>gRPC codes are 0-16: anything else an upstream sends is "unknown", so it cannot blow up the series count.</summary>
    private static string GrpcStatusLabel(string value)
    {
        if (value.Length == 0)
            return value;
        return int.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var code) && code <= 16
            ? ProxyMetrics.StatusCodeText(code)
            : Unknown;
    }

    private static string ProtocolOf(HttpRequest request)
    {
        var contentType = request.ContentType;
        if (contentType is not null && contentType.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase))
            return "grpc";
        return HttpProtocol.IsHttp2(request.Protocol) ? "http2" : "http";
    }
}
