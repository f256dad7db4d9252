namespace Weft.Proxy.Http1;

/// <summary>
/// Limits of the lean HTTP/1.1 path (defaults as Kestrel's). Over a limit the client gets 431, 414 or
/// 408 and the connection closes; nothing reaches an app.
/// </summary>
public sealed record Http1Limits
{
    /// <summary>Request line plus header fields, CRLFs included.</summary>
    public int MaxHeaderBlockBytes { get; init; } = 32 * 1024;

    public int MaxHeaderCount { get; init; } = 100;

    public int MaxRequestTargetBytes { get; init; } = 8 * 1024;

    /// <summary>From the first byte of a request to the end of its header block (slowloris bound).</summary>
    public TimeSpan HeaderReadTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a keep-alive connection may sit between requests.</summary>
    public TimeSpan KeepAliveTimeout { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>Upstream response header block bound.</summary>
    public int MaxResponseHeaderBlockBytes { get; init; } = 64 * 1024;

    /// <summary>
    /// Pooled idle upstream connections kept per endpoint, and how long one may idle. As many as
    /// Envoy's default connection limit: a bound below the client connections in flight closes and
    /// reopens upstream connections on every burst (with 256, a sidecar under 1000 busy clients kept
    /// connecting, and held 16 MB more memory doing it); the idle timeout trims them afterwards.
    /// </summary>
    public int MaxIdleUpstreamConnectionsPerEndpoint { get; init; } = 1024;

    public TimeSpan UpstreamIdleTimeout { get; init; } = TimeSpan.FromSeconds(90);

    /// <summary>Chunk-size line (size + extensions) bound.</summary>
    public int MaxChunkLineBytes { get; init; } = 1024;
}
