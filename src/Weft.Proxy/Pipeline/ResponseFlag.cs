namespace Weft.Proxy.Pipeline;

/// <summary>
/// Why a request did not get its upstream's answer in full, naming the side that failed (YARP's
/// ForwarderError, Envoy's response flags). None: the upstream answered and the answer reached the
/// client. Each flag the proxy answers itself has one status and <c>x-weft-reason</c> (<see cref="LocalReplies"/>).
/// </summary>
internal enum ResponseFlag : byte
{
    None,
    /// <summary>The listener was removed while the request arrived: 503 listener_draining.</summary>
    ListenerDraining,
    /// <summary>The caller may not make this request (a STRICT port without the caller's mTLS, or an AuthorizationPolicy): 403 denied.</summary>
    Denied,
    /// <summary>No route matched: 404 no_route.</summary>
    NoRoute,
    /// <summary>The route's backend names a cluster the config lacks, or carries no weight: 500 backend_not_found.</summary>
    BackendNotFound,
    /// <summary>The cluster has no endpoints: 503 no_endpoints.</summary>
    NoEndpoints,
    /// <summary>No endpoint accepted a connection (each tried once): 503 connect_failed.</summary>
    ConnectFailed,
    /// <summary>The upstream reset or closed before its response head: 503 upstream_reset.</summary>
    UpstreamReset,
    /// <summary>The response head did not arrive within the request's deadline: 504 timeout.</summary>
    Timeout,
    /// <summary>The endpoint's connections and the requests waiting for one are at their limits: 503 overflow.</summary>
    Overflow,
    /// <summary>An HTTP/1.1 Upgrade (WebSocket) toward an HTTP/2 or gRPC cluster, where Upgrade does not exist: 502 upgrade_unsupported.</summary>
    UpgradeUnsupported,
    /// <summary>Reading the client's request body failed midway (malformed, or too slow): 400 request_body_failed.</summary>
    RequestBodyFailed,
    /// <summary>The path is ambiguous (encoded slash, backslash, dot segment with parameters) or malformed: 400 bad_path.</summary>
    BadPath,
    /// <summary>A standard method in other than upper case ("delete"), which apps read as the standard one but rules do not: 400 bad_method.</summary>
    BadMethod,
    /// <summary>CONNECT: the mesh routes HTTP requests, it is no forward proxy: 405 connect_unsupported.</summary>
    ConnectUnsupported,
    /// <summary>The upstream failed while the response body streamed: the client's response is reset.</summary>
    ResponseBodyFailed,
    /// <summary>The client went away (or read too slowly); nothing more is written to it.</summary>
    ClientAborted,
}
