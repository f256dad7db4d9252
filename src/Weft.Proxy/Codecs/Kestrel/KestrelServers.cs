using System.Net;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Weft.Proxy.Codecs.Kestrel;

/// <summary>
/// Makes bare KestrelServers, without the generic host or DI: each listener is its own server so it
/// can be opened and drained alone while the others keep their connections.
/// </summary>
internal static class KestrelServers
{
    private static readonly IServiceProvider NoServices = new ServiceCollection().BuildServiceProvider();

    public static KestrelServer Create(IPEndPoint endpoint, Action<ListenOptions> configure, ILoggerFactory loggerFactory,
        Http2ListenerLimits http2, Config.ProxyLimits limits, bool inlineCompletions = false, Microsoft.AspNetCore.Connections.IConnectionListenerFactory? transport = null)
    {
        var options = new KestrelServerOptions
        {
            AddServerHeader = false,
            // h2c detected on an HTTP/1 port is served as if ALPN chose h2 (ProtocolDetection): accept its :scheme http.
            AllowAlternateSchemes = true,
            ApplicationServices = NoServices,
        };
        var kestrel = options.Limits;
        // Long uploads, downloads and gRPC streams must not be cut by size.
        kestrel.MaxRequestBodySize = null;
        // Every limit a client can push against is set here, none left to a framework default (docs/proxy.md, Limits).
        kestrel.MaxRequestHeadersTotalSize = http2.MaxHeaderListBytes;
        kestrel.MaxRequestHeaderCount = http2.MaxHeaderCount;
        // Kestrel's HTTP/1.1 only (where the lean codec is off), as the lean codec's 8 KB target.
        kestrel.MaxRequestLineSize = 8 * 1024;
        kestrel.Http2.MaxStreamsPerConnection = http2.MaxConcurrentStreams;
        kestrel.Http2.MaxRequestHeaderFieldSize = http2.MaxHeaderListBytes;
        kestrel.Http2.HeaderTableSize = http2.HeaderTableBytes;
        kestrel.Http2.MaxFrameSize = http2.MaxFrameBytes;
        kestrel.Http2.InitialConnectionWindowSize = http2.ConnectionWindowBytes;
        kestrel.Http2.InitialStreamWindowSize = http2.StreamWindowBytes;
        ApplyLimits(options, limits);
        options.Listen(endpoint, configure);
        var logs = new KestrelLogFilter(loggerFactory);
        transport ??= new SocketTransportFactory(
            Options.Create(new SocketTransportOptions { UnsafePreferInlineScheduling = inlineCompletions }), logs);
        return new KestrelServer(Options.Create(options), transport, logs);
    }

    /// <summary>
    /// The runtime's timeouts and data rates on a listener's Kestrel; called again when a config changes
    /// them (Kestrel reads these when a connection or request starts a timer, so new ones get the new values).
    /// </summary>
    public static void ApplyLimits(KestrelServerOptions options, Config.ProxyLimits limits)
    {
        var kestrel = options.Limits;
        kestrel.RequestHeadersTimeout = limits.RequestHeadersTimeout;
        kestrel.KeepAliveTimeout = limits.HttpIdleTimeout;
        kestrel.MinRequestBodyDataRate = KestrelCodec.RateOf(limits);
        kestrel.MinResponseDataRate = KestrelCodec.RateOf(limits);
    }

    /// <summary>The port actually bound (differs from the requested one when it was 0).</summary>
    public static int BoundPort(IServer server, int requested)
    {
        var addresses = server.Features.Get<IServerAddressesFeature>()?.Addresses;
        if (addresses is not null)
        {
            foreach (var address in addresses)
            {
                if (Uri.TryCreate(address, UriKind.Absolute, out var uri))
                    return uri.Port;
            }
        }
        return requested;
    }
}
