using Weft.Proxy.Upstream;
using Weft.Proxy.Config;

namespace Weft.Proxy.Pipeline;

/// <summary>The answers the proxy gives itself: status, x-weft-reason and a one-line body naming the service and why.</summary>
internal static class LocalReplies
{
    public const string ReasonHeader = "x-weft-reason";

    public const string MtlsRequiredMessage = "this port takes sidecars' mTLS only (STRICT), and this request came without it\n";

    /// <summary>Null when nothing can be answered (the client left, or the response already started).</summary>
    /// <param name="denial">Denied: why (an AuthorizationPolicy's message), else STRICT mTLS's.</param>
    public static (int Status, string Reason, string Message)? For(ResponseFlag flag, ListenerRuntime? listener, ClusterRuntime? cluster, string? denial = null) => flag switch
    {
        ResponseFlag.ListenerDraining => (503, "listener_draining", "this listener is being removed\n"),
        ResponseFlag.Denied => (403, "denied", denial ?? MtlsRequiredMessage),
        ResponseFlag.NoRoute => (404, "no_route", listener!.NoRouteMessage),
        ResponseFlag.BackendNotFound => (500, "backend_not_found", "the route's backend is not configured or carries no weight\n"),
        ResponseFlag.NoEndpoints => (503, "no_endpoints", cluster!.NoEndpointsMessage),
        ResponseFlag.ConnectFailed => (503, "connect_failed", cluster!.ConnectFailedMessage),
        ResponseFlag.UpstreamReset => (503, "upstream_reset", cluster!.UpstreamResetMessage),
        ResponseFlag.Timeout => (504, "timeout", cluster!.TimeoutMessage),
        ResponseFlag.Overflow => (503, "overflow", cluster!.OverflowMessage),
        ResponseFlag.UpgradeUnsupported => (502, "upgrade_unsupported", cluster!.UpgradeUnsupportedMessage),
        ResponseFlag.RequestBodyFailed => (400, "request_body_failed", "reading the request body failed\n"),
        ResponseFlag.BadPath => (400, "bad_path", "the request path is ambiguous or malformed\n"),
        ResponseFlag.BadMethod => (400, "bad_method", "methods are case-sensitive: write standard ones in upper case\n"),
        ResponseFlag.ConnectUnsupported => (405, "connect_unsupported", "CONNECT is not supported: the mesh routes HTTP requests\n"),
        _ => null,
    };
}
