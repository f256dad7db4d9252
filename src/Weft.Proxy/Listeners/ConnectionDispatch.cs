using Microsoft.AspNetCore.Connections;
using Weft.Proxy.Codecs.Http1;
using Weft.Proxy.Codecs.Kestrel;
using Weft.Proxy.Codecs.Tcp;
using Weft.Proxy.Codecs.Tls;
using Weft.Proxy.Config;
using Weft.Proxy.Security.Authorization;
using Weft.Proxy.Security.Mtls;
using Weft.Proxy.Telemetry;
using Microsoft.Extensions.Logging;
using Weft.Protocol.Discovery;

namespace Weft.Proxy.Listeners;

using Protocol = Weft.Protocol.Discovery.Protocol;

/// <summary>
/// Every accepted connection passes here first (Kestrel connection middleware), and this is the one
/// place that decides what handles it:
///   0. on a sidecar's inbound port, a sidecar's mTLS (a ClientHello offering a weft- ALPN protocol)
///      is terminated and what runs inside is served with the caller's identity; STRICT closes
///      anything else (security.md, "mTLS between sidecars");
///   1. the listener's declared protocol wins: TCP -> opaque forwarding (outbound at once, no
///      sniffing; inbound after the first bytes or the detection window, for step 0); TLS ->
///      passthrough by SNI; HTTP kinds -> HTTP, only h2 prior knowledge versus HTTP/1 detected;
///   2. an undeclared (AUTO) port is detected from the client's first bytes within its window; what
///      is neither HTTP nor TLS, or silent that long, is TCP;
///   3. one switch over <see cref="DetectedProtocol"/> hands the connection to its codec: HTTP/1 to the
///      lean HTTP/1.1 codec, HTTP/2 to Weft's HTTP/2 codec (Kestrel's for either where it is off).
/// </summary>
internal sealed partial class ConnectionDispatch(RuntimeState state, TcpProxy tcp, TlsPassthrough tls, ProxyMetrics metrics, TimeProvider time,
    Http2ResetGuard resets, Http1Codec? http1, Codecs.Http2.Http2Codec? http2, AuthorizationRefusals refusals, MeshTls? mtls = null, ILogger? logger = null)
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

        DetectedProtocol? silent = null;
        if (listener.Direction == Direction.Inbound && listener.Capture is null)
        {
            var kind = await InboundMtls.ClassifyAsync(connection, listener, time).ConfigureAwait(false);
            if (kind == InboundKind.Mtls)
            {
                await ServeMtlsAsync(connection, port, listener, http).ConfigureAwait(false);
                return;
            }
            if (listener.MtlsStrict)
            {
                metrics.MtlsOutcome(listener.Key, "plaintext_refused");
                Transport.ConnectionReset.Abort(connection, "STRICT mTLS: not a sidecar's mTLS");
                return;
            }
            metrics.MtlsOutcome(listener.Key, "plaintext");
            // A client silent through the window has been waited for once: detection does not wait again.
            if (kind == InboundKind.Silent)
                silent = listener.Protocol switch
                {
                    Protocol.Tcp => DetectedProtocol.Tcp,
                    Protocol.Auto => Count(listener, DetectionOutcome.Timeout),
                    _ => DetectedProtocol.Http1,
                };
        }

        var protocol = silent ?? await DetectAsync(connection, listener).ConfigureAwait(false);
        switch (protocol)
        {
            case DetectedProtocol.Http1:
                await ServeHttp1Async(connection, new ListenerBinding(port), http).ConfigureAwait(false);
                break;
            case DetectedProtocol.Http2:
                await ServeHttp2Async(connection, new ListenerBinding(port), http).ConfigureAwait(false);
                break;
            case DetectedProtocol.Tls:
                if (AuthorizeConnection(connection, listener, null))
                    await tls.HandleAsync(connection, listener).ConfigureAwait(false);
                break;
            default:
                if (AuthorizeConnection(connection, listener, null))
                    await tcp.ForwardAsync(connection, listener, listener.TcpCluster).ConfigureAwait(false);
                break;
        }
    }

    /// <summary>
    /// Opaque bytes into a workload (TCP, TLS passthrough, a weft-tcp tunnel) are authorized once, as
    /// the connection opens, from the caller's identity alone (null: plaintext); a denied one is reset.
    /// HTTP is authorized per request, in the pipeline.
    /// </summary>
    private bool AuthorizeConnection(ConnectionContext connection, ListenerRuntime listener, PeerIdentity? peer)
    {
        var table = listener.Authorization;
        if (listener.Direction != Direction.Inbound || table.IsEmpty)
            return true;
        if (table.AllowsConnection(peer, metrics, out var deniedBy))
            return true;
        refusals.Denied(listener.Key, deniedBy, "tcp", "connection", "-", peer);
        Transport.ConnectionReset.Abort(connection, AuthorizationRefusals.Why(deniedBy));
        return false;
    }

    /// <summary>What serves the connection, by the listener's declared protocol (or detected, for AUTO and HTTP/1 versus h2).</summary>
    private async ValueTask<DetectedProtocol> DetectAsync(ConnectionContext connection, ListenerRuntime listener) => listener.Protocol switch
    {
        Protocol.Tcp => DetectedProtocol.Tcp,
        Protocol.Tls => DetectedProtocol.Tls,
        Protocol.Auto => Count(listener, await ProtocolDetection.DetectAsync(connection, listener.DetectTimeout, time).ConfigureAwait(false)),
        _ => await DetectHttpAsync(connection, listener).ConfigureAwait(false),
    };

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

    /// <summary>
    /// A sidecar's mTLS: the handshake (this workload's certificate; the peer's verified), then what the
    /// ALPN protocol says runs inside, served with the peer's identity on every request.
    /// </summary>
    private async Task ServeMtlsAsync(ConnectionContext connection, int port, ListenerRuntime listener, ConnectionDelegate http)
    {
        if (mtls?.Certificate is null)
        {
            metrics.MtlsOutcome(listener.Key, "no_certificate");
            Transport.ConnectionReset.Abort(connection, "no workload certificate yet");
            return;
        }
        TlsConnection secured;
        try
        {
            secured = await mtls.AcceptAsync(connection, connection.ConnectionClosed).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // Whatever failed (a refused certificate, a reset, a timeout, a certificate too broken to
            // parse), the connection is refused the same way and counted once.
            metrics.MtlsOutcome(listener.Key, "handshake_failed");
            if (logger is not null)
                LogHandshakeFailed(logger, listener.Key, connection.RemoteEndPoint?.ToString() ?? "?", e.Message);
            Transport.ConnectionReset.Abort(connection, "mTLS handshake failed");
            return;
        }
        await using (secured.ConfigureAwait(false))
        {
            var binding = new ListenerBinding(port, Peer: secured.Peer);
            // Kestrel's codecs get the connection, not the binding: they find the peer here.
            secured.Items[PeerIdentity.ConnectionItemKey] = secured.Peer;
            if (secured.Protocol == MeshAlpn.Http2)
            {
                metrics.MtlsOutcome(listener.Key, "accepted");
                await ServeHttp2Async(secured, binding, http).ConfigureAwait(false);
            }
            else if (secured.Protocol == MeshAlpn.Http1)
            {
                metrics.MtlsOutcome(listener.Key, "accepted");
                await ServeHttp1Async(secured, binding, http).ConfigureAwait(false);
            }
            else if (listener.Protocol is Protocol.Tcp or Protocol.Auto)
            {
                metrics.MtlsOutcome(listener.Key, "accepted");
                await ServeTunnelAsync(secured, listener, binding, http).ConfigureAwait(false);
            }
            else
            {
                // Raw bytes to an HTTP port would reach the app past the HTTP codec, and with it past
                // the identity rules (x-forwarded-client-cert is the proxy's alone): no sidecar sends them.
                metrics.MtlsOutcome(listener.Key, "protocol_refused");
                Transport.ConnectionReset.Abort(secured, "a raw tunnel to an HTTP port");
            }
        }
    }

    /// <summary>
    /// A weft-tcp tunnel: on a TCP port the bytes go to the app as they are; on an AUTO port they are
    /// detected as on a plaintext one, so whatever is HTTP meets the HTTP codec with the peer's identity.
    /// </summary>
    private async Task ServeTunnelAsync(TlsConnection secured, ListenerRuntime listener, ListenerBinding binding, ConnectionDelegate http)
    {
        // A TCP or AUTO listener always names its tcp_cluster (the runtime builder refuses one without).
        if (listener.Protocol == Protocol.Tcp)
        {
            if (AuthorizeConnection(secured, listener, secured.Peer))
                await tcp.ForwardAsync(secured, listener, listener.TcpCluster).ConfigureAwait(false);
            return;
        }
        switch (Count(listener, await ProtocolDetection.DetectAsync(secured, listener.DetectTimeout, time).ConfigureAwait(false)))
        {
            case DetectedProtocol.Http1:
                await ServeHttp1Async(secured, binding, http).ConfigureAwait(false);
                break;
            case DetectedProtocol.Http2:
                await ServeHttp2Async(secured, binding, http).ConfigureAwait(false);
                break;
            default:
                if (AuthorizeConnection(secured, listener, secured.Peer))
                    await tcp.ForwardAsync(secured, listener, listener.TcpCluster).ConfigureAwait(false);
                break;
        }
    }

    [LoggerMessage(EventId = 600, Level = LogLevel.Information, Message = "mTLS handshake on {Listener} from {Remote} failed: {Reason}")]
    private static partial void LogHandshakeFailed(ILogger logger, string listener, string remote, string reason);

    private DetectedProtocol Count(ListenerRuntime listener, DetectionOutcome outcome)
    {
        metrics.ProtocolDetected(listener.Key, OutcomeLabels[(int)outcome]);
        return ProtocolDetection.ToProtocol(outcome);
    }
}
