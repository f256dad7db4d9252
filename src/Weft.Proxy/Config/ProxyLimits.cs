using Weft.Protocol.Discovery;

namespace Weft.Proxy.Config;

/// <summary>
/// The data plane's limits and timeouts, from the mesh's ProxySettings (MeshConfig spec.proxy) with a
/// default for each that a user of Envoy, Linkerd or Kestrel would recognise (docs/proxy.md, "Limits").
/// Part of the runtime: a config change applies to new connections and requests at once.
/// </summary>
public sealed record ProxyLimits
{
    public static readonly ProxyLimits Default = new();

    /// <summary>Open downstream connections per listener; new ones beyond are refused (Envoy's edge best practice).</summary>
    public int MaxConnectionsPerListener { get; init; } = 10_000;

    /// <summary>Open downstream connections of the whole proxy (Envoy's recommended global downstream limit).</summary>
    public int MaxConnections { get; init; } = 50_000;

    /// <summary>From a request's first byte to the end of its head (slowloris bound; Kestrel's).</summary>
    public TimeSpan RequestHeadersTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>From a request's arrival to its response head (Envoy's route default); zero = none. gRPC calls use their own deadline.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>An HTTP connection with no request in flight is closed after this (Kestrel's keep-alive timeout).</summary>
    public TimeSpan HttpIdleTimeout { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>Spliced TCP, TLS passthrough and upgraded tunnels with no byte either way are closed after this (Envoy's tcp_proxy default); zero = none.</summary>
    public TimeSpan TcpIdleTimeout { get; init; } = TimeSpan.FromHours(1);

    /// <summary>The least a body may move while the proxy waits on the client, both ways (Kestrel's); zero = none.</summary>
    public int MinBodyBytesPerSecond { get; init; } = 240;

    /// <summary>How long a body may move slower than the minimum before the rate applies.</summary>
    public TimeSpan MinBodyRateGrace { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>HTTP/1.1 upstream connections per endpoint, busy and idle (Envoy's circuit-breaker max_connections); HTTP/2 multiplexes instead (docs/proxy.md, "Limits").</summary>
    public int MaxUpstreamConnectionsPerEndpoint { get; init; } = 1024;

    /// <summary>Requests that may wait for a connection to an endpoint at its limit; beyond, 503 overflow (Envoy's max_pending_requests).</summary>
    public int MaxPendingRequestsPerEndpoint { get; init; } = 1024;

    /// <summary>An idle pooled upstream connection, HTTP/1.1 or HTTP/2, is closed after this.</summary>
    public TimeSpan UpstreamIdleTimeout { get; init; } = TimeSpan.FromSeconds(90);

    /// <summary>Ambiguous paths (%2F, %5C, '\', dot segments with parameters) are matched and forwarded as sent instead of refused.</summary>
    public bool KeepAmbiguousPaths { get; init; }

    /// <summary>The limits a ProxySettings resource sets, each unset field its default.</summary>
    public static ProxyLimits From(ProxySettings? settings)
    {
        if (settings is null)
            return Default;
        var d = Default;
        return new ProxyLimits
        {
            MaxConnectionsPerListener = settings.HasMaxConnectionsPerListener ? (int)Math.Min(settings.MaxConnectionsPerListener, int.MaxValue) : d.MaxConnectionsPerListener,
            MaxConnections = settings.HasMaxConnections ? (int)Math.Min(settings.MaxConnections, int.MaxValue) : d.MaxConnections,
            RequestHeadersTimeout = settings.HasRequestHeadersTimeoutMs ? Ms(settings.RequestHeadersTimeoutMs) : d.RequestHeadersTimeout,
            RequestTimeout = settings.HasRequestTimeoutMs ? Ms(settings.RequestTimeoutMs) : d.RequestTimeout,
            HttpIdleTimeout = settings.HasHttpIdleTimeoutMs ? Ms(settings.HttpIdleTimeoutMs) : d.HttpIdleTimeout,
            TcpIdleTimeout = settings.HasTcpIdleTimeoutMs ? Ms(settings.TcpIdleTimeoutMs) : d.TcpIdleTimeout,
            MinBodyBytesPerSecond = settings.HasMinBodyBytesPerSecond ? (int)Math.Min(settings.MinBodyBytesPerSecond, int.MaxValue) : d.MinBodyBytesPerSecond,
            MinBodyRateGrace = settings.HasMinBodyRateGraceMs ? Ms(settings.MinBodyRateGraceMs) : d.MinBodyRateGrace,
            MaxUpstreamConnectionsPerEndpoint = settings.HasMaxUpstreamConnectionsPerEndpoint
                ? (int)Math.Min(settings.MaxUpstreamConnectionsPerEndpoint, int.MaxValue) : d.MaxUpstreamConnectionsPerEndpoint,
            MaxPendingRequestsPerEndpoint = settings.HasMaxPendingRequestsPerEndpoint
                ? (int)Math.Min(settings.MaxPendingRequestsPerEndpoint, int.MaxValue) : d.MaxPendingRequestsPerEndpoint,
            UpstreamIdleTimeout = settings.HasUpstreamIdleTimeoutMs ? Ms(settings.UpstreamIdleTimeoutMs) : d.UpstreamIdleTimeout,
            KeepAmbiguousPaths = settings.AmbiguousPaths == AmbiguousPathAction.AmbiguousPathKeep,
        };
    }

    /// <summary>Every error of a ProxySettings resource, each with its field (0 where a limit needs at least 1).</summary>
    public static void Validate(string key, ProxySettings settings, List<string> errors)
    {
        if (settings.HasMaxConnectionsPerListener && settings.MaxConnectionsPerListener == 0)
            errors.Add(key + ": max_connections_per_listener: must be at least 1");
        if (settings.HasMaxConnections && settings.MaxConnections == 0)
            errors.Add(key + ": max_connections: must be at least 1");
        if (settings.HasRequestHeadersTimeoutMs && settings.RequestHeadersTimeoutMs == 0)
            errors.Add(key + ": request_headers_timeout_ms: must be at least 1");
        if (settings.HasHttpIdleTimeoutMs && settings.HttpIdleTimeoutMs == 0)
            errors.Add(key + ": http_idle_timeout_ms: must be at least 1");
        if (settings.HasMaxUpstreamConnectionsPerEndpoint && settings.MaxUpstreamConnectionsPerEndpoint == 0)
            errors.Add(key + ": max_upstream_connections_per_endpoint: must be at least 1");
        if (settings.HasMaxPendingRequestsPerEndpoint && settings.MaxPendingRequestsPerEndpoint == 0)
            errors.Add(key + ": max_pending_requests_per_endpoint: must be at least 1");
        if (settings.HasUpstreamIdleTimeoutMs && settings.UpstreamIdleTimeoutMs == 0)
            errors.Add(key + ": upstream_idle_timeout_ms: must be at least 1");
        if (!Enum.IsDefined(settings.AmbiguousPaths))
            errors.Add(key + ": ambiguous_paths: unknown action " + ((int)settings.AmbiguousPaths).ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    private static TimeSpan Ms(uint ms) => TimeSpan.FromMilliseconds(ms);
}
