namespace Weft.Proxy.Codecs.Kestrel;

/// <summary>
/// Limits of HTTP/2 (h2c) on the listeners, which Kestrel serves. Each is set on every listener's
/// Kestrel (<see cref="KestrelServers"/>), so none follows a framework default that could change
/// under us. The header limits are Kestrel's for both protocols and match <see cref="Http1.Http1Limits"/>;
/// the timeouts (request headers, idle connection) are the runtime's (Config/ProxyLimits).
/// Reset floods (CVE-2023-44487) meet Kestrel's own guard (RST_STREAM ENHANCE_YOUR_CALM past twice
/// <see cref="MaxConcurrentStreams"/> unfinished streams, then an abort) and <see cref="Http2ResetGuard"/>.
/// </summary>
public sealed record Http2ListenerLimits
{
    /// <summary>
    /// SETTINGS_MAX_CONCURRENT_STREAMS; a stream beyond it gets RST_STREAM REFUSED_STREAM and never
    /// reaches the app. haproxy, nginx and Kestrel use 100-128, Go 250, Envoy and Node no limit at all:
    /// a gRPC app that keeps a thousand long-lived calls (watches, subscriptions) on one channel must not
    /// find the thousandth queued behind calls that never end, while one connection (its request bodies
    /// bounded by the connection window, its reset streams by the reset guard at this many) stays bounded.
    /// </summary>
    public int MaxConcurrentStreams { get; init; } = 1024;

    /// <summary>
    /// SETTINGS_MAX_HEADER_LIST_SIZE: the decoded names and values of one request. Over it the stream
    /// gets 431 and the app sees nothing; over twice it (an HPACK bomb, a CONTINUATION flood) the
    /// connection gets GOAWAY. One field may fill the whole list (over it: GOAWAY COMPRESSION_ERROR):
    /// a smaller per-field bound would refuse on h2 what HTTP/1.1 accepts. HTTP/1.1's 32 KB head.
    /// </summary>
    public int MaxHeaderListBytes { get; init; } = 32 * 1024;

    /// <summary>Header fields per request; over it 431, far over it (a CONTINUATION flood) GOAWAY. As HTTP/1.1 and Envoy.</summary>
    public int MaxHeaderCount { get; init; } = 100;

    /// <summary>SETTINGS_HEADER_TABLE_SIZE: the HPACK dynamic table a client may fill, per connection. The protocol's default.</summary>
    public int HeaderTableBytes { get; init; } = 4096;

    /// <summary>SETTINGS_MAX_FRAME_SIZE: the largest frame accepted (larger: GOAWAY FRAME_SIZE_ERROR). The protocol's default.</summary>
    public int MaxFrameBytes { get; init; } = 16 * 1024;

    /// <summary>Request body bytes a connection may have in flight unread, all its streams together (flow control).</summary>
    public int ConnectionWindowBytes { get; init; } = 1024 * 1024;

    /// <summary>Request body bytes one stream may have in flight unread (SETTINGS_INITIAL_WINDOW_SIZE).</summary>
    public int StreamWindowBytes { get; init; } = 768 * 1024;
}
