using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;
using Weft.Proxy.Config;
using Weft.Proxy.Telemetry;
using Weft.Proxy.Codecs.Tcp;
using Weft.Proxy.Listeners;

namespace Weft.Proxy.Codecs.Tls;

/// <summary>
/// TLS passthrough: peeks the ClientHello's server name, picks the cluster its SNI routes name, and
/// forwards the still-encrypted bytes opaquely (the proxy never terminates TLS, so the client sees
/// the app's certificate). A TLS listener closes a connection no route names; an AUTO listener, where
/// TLS was only detected, sends it to its TCP cluster like any other opaque connection.
/// </summary>
internal sealed class TlsPassthrough(TcpProxy tcp, ProxyMetrics metrics, TimeProvider time)
{
    /// <summary>A client that opened a TLS connection sends its ClientHello at once; this only bounds a stalled one.</summary>
    public static readonly TimeSpan HelloTimeout = TimeSpan.FromSeconds(10);

    public async Task HandleAsync(ConnectionContext connection, ListenerRuntime listener)
    {
        var (status, serverName) = await ReadServerNameAsync(connection).ConfigureAwait(false);
        var fallback = listener.Protocol == Weft.Protocol.Discovery.Protocol.Auto ? listener.TcpCluster : null;
        string? cluster = null;
        string reason;
        switch (status)
        {
            case ClientHelloStatus.Complete:
                cluster = listener.SniRoutes.Match(serverName) ?? fallback;
                reason = serverName is null ? "no_sni" : "no_match";
                break;
            case ClientHelloStatus.Invalid:
                cluster = fallback;
                reason = "malformed";
                break;
            default:
                cluster = fallback;
                reason = "timeout";
                break;
        }
        if (cluster is null)
        {
            metrics.SniRejected(listener.Key, reason);
            return;   // Kestrel closes the connection when its handler returns.
        }
        await tcp.ForwardAsync(connection, listener, cluster).ConfigureAwait(false);
    }

    private async ValueTask<(ClientHelloStatus Status, string? ServerName)> ReadServerNameAsync(ConnectionContext connection)
    {
        // Peeked only: the upstream TLS server gets the ClientHello byte for byte.
        var hello = await PipePeek.PeekAsync<(ClientHelloStatus, string?)>(connection.Transport.Input, HelloTimeout, time, static (buffer, completed) =>
        {
            var status = ClientHello.TryReadServerName(buffer, out var serverName);
            if (status == ClientHelloStatus.Incomplete && (buffer.Length >= ClientHello.MaxBufferedBytes || completed))
                status = ClientHelloStatus.Invalid;
            return status == ClientHelloStatus.Incomplete ? null : (status, serverName);
        }).ConfigureAwait(false);
        return hello ?? (ClientHelloStatus.Incomplete, null);
    }
}
