using Weft.Model.Resources;
using Pb = Weft.Protocol.Discovery;

namespace Weft.Control.Translate;

/// <summary>
/// MeshConfig <c>spec.proxy</c> -> the one <c>settings/proxy</c> resource every proxy gets. A setting
/// the MeshConfig leaves out stays unset on the wire, so the proxy applies its own default.
/// </summary>
internal static class ProxySettingsBuilder
{
    public static Pb.ProxySettings Build(ProxySettings settings)
    {
        var result = new Pb.ProxySettings();
        if (settings.MaxConnectionsPerListener is { } perListener) result.MaxConnectionsPerListener = (uint)perListener;
        if (settings.MaxConnections is { } connections) result.MaxConnections = (uint)connections;
        if (settings.RequestHeadersTimeout is { } headers) result.RequestHeadersTimeoutMs = Milliseconds(headers);
        if (settings.RequestTimeout is { } request) result.RequestTimeoutMs = Milliseconds(request);
        if (settings.HttpIdleTimeout is { } httpIdle) result.HttpIdleTimeoutMs = Milliseconds(httpIdle);
        if (settings.TcpIdleTimeout is { } tcpIdle) result.TcpIdleTimeoutMs = Milliseconds(tcpIdle);
        if (settings.MinBodyDataRate?.BytesPerSecond is { } rate) result.MinBodyBytesPerSecond = (uint)rate;
        if (settings.MinBodyDataRate?.Grace is { } grace) result.MinBodyRateGraceMs = Milliseconds(grace);
        if (settings.MaxUpstreamConnectionsPerEndpoint is { } upstream) result.MaxUpstreamConnectionsPerEndpoint = (uint)upstream;
        if (settings.MaxPendingRequestsPerEndpoint is { } pending) result.MaxPendingRequestsPerEndpoint = (uint)pending;
        if (settings.UpstreamIdleTimeout is { } upstreamIdle) result.UpstreamIdleTimeoutMs = Milliseconds(upstreamIdle);
        // Not optional on the wire: its zero, REJECT, is the proxy's default.
        result.AmbiguousPaths = settings.AmbiguousPaths == AmbiguousPathAction.Keep ? Pb.AmbiguousPathAction.AmbiguousPathKeep : Pb.AmbiguousPathAction.AmbiguousPathReject;
        return result;
    }

    // The model holds durations to uint32 milliseconds (MeshConfigBinder), so this never wraps.
    private static uint Milliseconds(TimeSpan d) => checked((uint)(d.Ticks / TimeSpan.TicksPerMillisecond));
}
