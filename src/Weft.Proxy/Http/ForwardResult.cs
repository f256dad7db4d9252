using Microsoft.Extensions.Logging;
using Weft.Proxy.Balancing;

namespace Weft.Proxy.Http;

/// <summary>How a request ended, naming the side that failed (YARP's ForwarderError idea).</summary>
internal enum ForwardResult
{
    Success,
    /// <summary>The cluster has no endpoints: 503 no_endpoints.</summary>
    NoEndpoints,
    /// <summary>No endpoint accepted a connection (each tried once): 503 connect_failed.</summary>
    ConnectFailed,
    /// <summary>The upstream reset, closed or timed out before sending response headers: 503 upstream_reset.</summary>
    UpstreamReset,
    /// <summary>The client went away; nothing is written back.</summary>
    ClientAborted,
    /// <summary>Reading the client's request body failed midway.</summary>
    RequestBodyFailed,
    /// <summary>The upstream failed while the response body streamed; the client's response is aborted.</summary>
    ResponseBodyFailed,
    /// <summary>No route matched: 404 no_route.</summary>
    NoRoute,
    /// <summary>The route's backend names a cluster the config lacks, or carries no weight: 500.</summary>
    BackendNotFound,
    /// <summary>An HTTP/1.1 Upgrade (WebSocket) toward an HTTP/2 or gRPC cluster, where Upgrade does not exist: 502 upgrade_unsupported.</summary>
    UpgradeUnsupported,
}

internal static class ForwardResults
{
    /// <summary>
    /// A failed forward, as both HTTP paths record it: logged, and counted against the endpoint (its
    /// failures and last error) unless the client is to blame (it left, or its body broke).
    /// </summary>
    public static void RecordForwardFailure(this EndpointRuntime endpoint, ForwardResult result, Exception? error, ILogger logger)
    {
        if (result is not (ForwardResult.ClientAborted or ForwardResult.RequestBodyFailed))
            endpoint.Stats.RecordFailure(result.ToString() + ": " + (error?.Message ?? ""));
        Log.ForwardFailed(logger, endpoint.Authority, result, error);
    }
}

/// <summary>The forwarder's answer: result, the endpoint that served (or failed last), the gRPC status seen.</summary>
internal readonly record struct ForwardOutcome(ForwardResult Result, EndpointRuntime? Endpoint, string GrpcStatus, Exception? Error);
