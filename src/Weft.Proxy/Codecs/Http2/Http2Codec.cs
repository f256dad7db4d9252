using Microsoft.AspNetCore.Connections;
using Weft.Proxy.Codecs.Kestrel;
using Weft.Proxy.Config;
using Weft.Proxy.Listeners;
using Weft.Proxy.Pipeline;

namespace Weft.Proxy.Codecs.Http2;

/// <summary>
/// The HTTP/2 codec's server entry: Listeners/ConnectionDispatch hands it every connection that opens
/// with the HTTP/2 preface (h2c prior knowledge). It reads frames, turns each stream into the
/// pipeline's request context, and writes the answers back as frames; every request decision is the
/// pipeline's.
/// </summary>
internal sealed class Http2Codec(RuntimeState state, RequestPipeline pipeline, Http2ListenerLimits limits, Heartbeat heartbeat, Http2ResetGuard resets)
{
    public RuntimeState State { get; } = state;
    public RequestPipeline Pipeline { get; } = pipeline;
    public Http2ListenerLimits Limits { get; } = limits;
    public Heartbeat Heartbeat { get; } = heartbeat;

    public LocalSettings Settings { get; } = new(limits.MaxConcurrentStreams, limits.StreamWindowBytes, limits.ConnectionWindowBytes,
        limits.MaxFrameBytes, limits.HeaderTableBytes, limits.MaxHeaderListBytes, limits.MaxHeaderCount);

    /// <summary>What the client side advertises to upstreams: the same windows and header limits; push off.</summary>
    public static LocalSettings ClientSettings(Http2ListenerLimits limits) => new(100, limits.StreamWindowBytes, limits.ConnectionWindowBytes,
        limits.MaxFrameBytes, limits.HeaderTableBytes, limits.MaxHeaderListBytes, limits.MaxHeaderCount);

    public Task ServeAsync(ConnectionContext connection, ListenerBinding binding)
    {
        resets.Attach(connection, binding.Port);
        return new Http2ServerConnection(this, connection, binding).RunAsync();
    }
}
