using Microsoft.AspNetCore.Connections;
using Weft.Proxy.Codecs.Http1;
using Weft.Proxy.Codecs.Kestrel;
using Weft.Proxy.Codecs.Tcp;
using Weft.Proxy.Codecs.Tls;
using Weft.Proxy.Config;
using Weft.Proxy.Telemetry;

namespace Weft.Proxy.Listeners;

using Protocol = Weft.Protocol.Discovery.Protocol;

/// <summary>
/// Every accepted connection passes here first (Kestrel connection middleware), and this is the one
/// place that decides what handles it:
///   1. the listener's declared protocol wins: TCP -> opaque forwarding at once (no sniffing, so a
///      server-first protocol gets no added delay); TLS -> passthrough by SNI; HTTP kinds -> HTTP,
///      only h2 prior knowledge versus HTTP/1 detected;
///   2. an undeclared (AUTO) port is detected from the client's first bytes within its window; what
///      is neither HTTP nor TLS, or silent that long, is TCP;
///   3. one switch over <see cref="DetectedProtocol"/> hands the connection to its codec: HTTP/1 to the
///      lean HTTP/1.1 codec, HTTP/2 to Weft's HTTP/2 codec (Kestrel's for either where it is off).
/// </summary>
internal sealed class ConnectionDispatch(RuntimeState state, TcpProxy tcp, TlsPassthrough tls, ProxyMetrics metrics, TimeProvider time,
    Http2ResetGuard resets, Http1Codec? http1, Codecs.Http2.Http2Codec? http2)
{
    private static readonly string[] OutcomeLabels = ["http1", "http2", "tls", "tcp", "timeout"];

    public async Task DispatchAsync(ConnectionContext connection, int port, ConnectionDelegate http)
    {
        if (!state.Current.ListenersByPort.TryGetValue(port, out var listener))
        {
            // Removed while this connection was accepted: the HTTP side answers 503 listener_draining.
            await http(connection).ConfigureAwait(false);
            return;
        }

        DetectedProtocol protocol;
        switch (listener.Protocol)
        {
            case Protocol.Tcp:
                protocol = DetectedProtocol.Tcp;
                break;
            case Protocol.Tls:
                protocol = DetectedProtocol.Tls;
                break;
            case Protocol.Auto:
                protocol = Count(listener, await ProtocolDetection.DetectAsync(connection, listener.DetectTimeout, time).ConfigureAwait(false));
                break;
            default:
                protocol = await DetectHttpAsync(connection, listener).ConfigureAwait(false);
                break;
        }

        switch (protocol)
        {
            case DetectedProtocol.Http1:
                await ServeHttp1Async(connection, new ListenerBinding(port), http).ConfigureAwait(false);
                break;
            case DetectedProtocol.Http2:
                await ServeHttp2Async(connection, new ListenerBinding(port), http).ConfigureAwait(false);
                break;
            case DetectedProtocol.Tls:
                await tls.HandleAsync(connection, listener).ConfigureAwait(false);
                break;
            default:
                await tcp.ForwardAsync(connection, listener, listener.TcpCluster).ConfigureAwait(false);
                break;
        }
    }

    /// <summary>An HTTP listener's connection: HTTP/2 prior knowledge or HTTP/1, counted under <paramref name="listener"/>.</summary>
    public async ValueTask<DetectedProtocol> DetectHttpAsync(ConnectionContext connection, ListenerRuntime listener) =>
        Count(listener, await ProtocolDetection.DetectHttpAsync(connection, time).ConfigureAwait(false));

    /// <summary>HTTP/1.x: the lean codec, or Kestrel's HTTP/1.1 (<c>http</c>) where it is off.</summary>
    public Task ServeHttp1Async(ConnectionContext connection, ListenerBinding binding, ConnectionDelegate http) =>
        http1 is not null ? http1.ServeAsync(connection, binding) : http(connection);

    /// <summary>HTTP/2 prior knowledge: Weft's codec (Kestrel's where it is off), with the connection's rapid-reset budget.</summary>
    public Task ServeHttp2Async(ConnectionContext connection, ListenerBinding binding, ConnectionDelegate http)
    {
        if (http2 is not null)
            return http2.ServeAsync(connection, binding);
        ProtocolDetection.UsePriorKnowledgeH2(connection);
        resets.Attach(connection, binding.Port);
        return http(connection);
    }

    private DetectedProtocol Count(ListenerRuntime listener, DetectionOutcome outcome)
    {
        metrics.ProtocolDetected(listener.Key, OutcomeLabels[(int)outcome]);
        return ProtocolDetection.ToProtocol(outcome);
    }
}
