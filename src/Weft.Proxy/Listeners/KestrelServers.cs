using System.Net;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Weft.Proxy.Listeners;

/// <summary>
/// Makes bare KestrelServers, without the generic host or DI: each listener is its own server so it
/// can be opened and drained alone while the others keep their connections.
/// </summary>
internal static class KestrelServers
{
    private static readonly IServiceProvider NoServices = new ServiceCollection().BuildServiceProvider();

    public static KestrelServer Create(IPEndPoint endpoint, Action<ListenOptions> configure, ILoggerFactory loggerFactory,
        Http2ListenerLimits http2, bool inlineCompletions = false, Microsoft.AspNetCore.Connections.IConnectionListenerFactory? transport = null)
    {
        var options = new KestrelServerOptions
        {
            AddServerHeader = false,
            // h2c detected on an HTTP/1 port is served as if ALPN chose h2 (ProtocolDetection): accept its :scheme http.
            AllowAlternateSchemes = true,
            ApplicationServices = NoServices,
        };
        var limits = options.Limits;
        // Long uploads, downloads and gRPC streams must not be cut by size or minimum rate.
        limits.MaxRequestBodySize = null;
        limits.MinRequestBodyDataRate = null;
        limits.MinResponseDataRate = null;
        // Every limit a client can push against is set here, none left to a framework default (docs/proxy.md, Limits).
        limits.MaxRequestHeadersTotalSize = http2.MaxHeaderListBytes;
        limits.MaxRequestHeaderCount = http2.MaxHeaderCount;
        limits.RequestHeadersTimeout = http2.RequestHeadersTimeout;
        limits.KeepAliveTimeout = http2.KeepAliveTimeout;
        // Kestrel's HTTP/1.1 only (the lean path's fallback), as the lean path's 8 KB target.
        limits.MaxRequestLineSize = 8 * 1024;
        limits.Http2.MaxStreamsPerConnection = http2.MaxConcurrentStreams;
        limits.Http2.MaxRequestHeaderFieldSize = http2.MaxHeaderListBytes;
        limits.Http2.HeaderTableSize = http2.HeaderTableBytes;
        limits.Http2.MaxFrameSize = http2.MaxFrameBytes;
        limits.Http2.InitialConnectionWindowSize = http2.ConnectionWindowBytes;
        limits.Http2.InitialStreamWindowSize = http2.StreamWindowBytes;
        options.Listen(endpoint, configure);
        var logs = new KestrelLogFilter(loggerFactory);
        transport ??= new SocketTransportFactory(
            Options.Create(new SocketTransportOptions { UnsafePreferInlineScheduling = inlineCompletions }), logs);
        return new KestrelServer(Options.Create(options), transport, logs);
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
