namespace Weft.Proxy.Codecs.Http1;

/// <summary>
/// Size limits of the HTTP/1.1 codec (Kestrel's values). Over a limit the client gets 431 or 414 and
/// the connection closes; nothing reaches an app. Timeouts are the runtime's (Config/ProxyLimits).
/// </summary>
public sealed record Http1Limits
{
    /// <summary>Request line plus header fields, CRLFs included.</summary>
    public int MaxHeaderBlockBytes { get; init; } = 32 * 1024;

    public int MaxHeaderCount { get; init; } = 100;

    public int MaxRequestTargetBytes { get; init; } = 8 * 1024;

    /// <summary>Upstream response header block bound.</summary>
    public int MaxResponseHeaderBlockBytes { get; init; } = 64 * 1024;

    /// <summary>Chunk-size line (size + extensions) bound.</summary>
    public int MaxChunkLineBytes { get; init; } = 1024;
}
