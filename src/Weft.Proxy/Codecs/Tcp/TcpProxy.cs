using Microsoft.AspNetCore.Connections;
using Weft.Proxy.Config;
using Weft.Proxy.Telemetry;
using Weft.Proxy.Upstream;

namespace Weft.Proxy.Codecs.Tcp;

/// <summary>
/// Opaque TCP (and TLS passthrough): each connection goes to one endpoint of a cluster through the
/// cluster client (balancer pick, the next endpoint when a connect fails), then the two are spliced.
/// Bytes already read by detection are still in the connection's reader, so they go first.
/// </summary>
internal sealed class TcpProxy(RuntimeState state, ClusterClient clusters, ProxyMetrics metrics, Heartbeat heartbeat)
{
    public async Task ForwardAsync(ConnectionContext connection, ListenerRuntime listener, string clusterName)
    {
        if (!state.Current.Clusters.TryGetValue(clusterName, out var cluster))
            return;
        // Not linked to connection.ConnectionClosed: Kestrel fires it on the client's FIN, which in
        // half-close is the start of waiting for the answer, not the end of the connection.
        var (upstream, _) = await clusters.ConnectAsync(cluster, listener.Port).ConfigureAwait(false);
        if (upstream is null)
            return;
        await SpliceAsync(connection, upstream, listener.Port).ConfigureAwait(false);
    }

    /// <summary>Splices a client connection with an upstream one (which it then owns) until both directions end.</summary>
    public async Task SpliceAsync(ConnectionContext connection, UpstreamTransport upstream, int port)
    {
        try
        {
            // A failure was already passed on as a reset both ways; there is nobody else to tell.
            await Splice.RunAsync(heartbeat, connection.Transport, () => ClientReset.Abort(connection), upstream,
                state.Current.Limits.TcpIdleTimeout, metrics.TcpReceived(port), metrics.TcpSent(port), primeClient: true).ConfigureAwait(false);
        }
        finally
        {
            await upstream.CloseAsync().ConfigureAwait(false);
        }
    }
}
