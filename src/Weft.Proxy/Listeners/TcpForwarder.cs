using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Weft.Proxy.Balancing;
using Weft.Proxy.Config;
using Weft.Proxy.Telemetry;

namespace Weft.Proxy.Listeners;

/// <summary>
/// Opaque TCP (and TLS passthrough): each connection goes to one endpoint of a cluster (round robin,
/// the next endpoint when a connect fails), then bytes are copied both ways, exactly, until both
/// directions end. Half-close is honoured: when the client shuts down its sending side, the upstream
/// gets a FIN and its answer keeps flowing back until it closes. Bytes already read by detection are
/// still in the connection's pipe, so they go first.
/// </summary>
internal sealed class TcpForwarder(RuntimeState state, ProxyMetrics metrics, ILogger logger)
{
    private const int ReceiveBufferSize = 16 * 1024;

    public async Task ForwardAsync(ConnectionContext connection, ListenerRuntime listener, string clusterName)
    {
        var runtime = state.Current;
        if (!runtime.Clusters.TryGetValue(clusterName, out var cluster) || cluster.Endpoints.Length == 0)
            return;

        // Not linked to connection.ConnectionClosed: Kestrel fires it on the client's FIN, which in
        // half-close is the start of waiting for the answer, not the end of the connection.
        var socket = await ConnectAsync(cluster, listener.Port).ConfigureAwait(false);
        if (socket is null)
            return;
        await SpliceAsync(connection, socket, listener.Port).ConfigureAwait(false);
    }

    /// <summary>
    /// Copies bytes both ways between the connection and a connected socket (which it then owns) until
    /// both directions end, half-close honoured. Also what a capture listener's passthrough uses.
    /// </summary>
    public async Task SpliceAsync(ConnectionContext connection, Socket socket, int port)
    {
        using (socket)
        {
            var toUpstream = CopyToUpstreamAsync(connection.Transport.Input, socket, metrics.TcpReceived(port));
            var toClient = CopyToClientAsync(socket, connection.Transport.Output, metrics.TcpSent(port));
            await Task.WhenAll(toUpstream, toClient).ConfigureAwait(false);
        }
    }

    private async Task<Socket?> ConnectAsync(ClusterRuntime cluster, int port)
    {
        var endpoints = cluster.Endpoints;
        var start = cluster.Balancer.PickStart(endpoints.Length);
        for (var attempt = 0; attempt < endpoints.Length; attempt++)
        {
            var endpoint = endpoints[(start + attempt) % endpoints.Length];
            endpoint.Stats.RecordRequest();
            var candidate = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            using var timeout = new CancellationTokenSource(cluster.ConnectTimeout);
            try
            {
                await candidate.ConnectAsync(endpoint.Address, endpoint.Port, timeout.Token).ConfigureAwait(false);
                return candidate;
            }
            catch (Exception ex) when (ex is SocketException or OperationCanceledException)
            {
                candidate.Dispose();
                endpoint.Stats.RecordFailure("ConnectFailed: " + ex.Message);
                Log.TcpForwardFailed(logger, port, cluster.Name, ex);
            }
        }
        return null;
    }

    /// <summary>Client -> upstream; the client's FIN becomes the upstream's FIN (shutdown of our sending side).</summary>
    private static async Task CopyToUpstreamAsync(PipeReader input, Socket upstream, Counter received)
    {
        try
        {
            // Detection may have left the client's first bytes examined (its window ended after they
            // arrived): a plain ReadAsync would wait for more, which a client that sent a partial
            // message and now waits for the server never sends. A cancelled read returns what is
            // buffered at once; that first cancellation is ours, not an end.
            input.CancelPendingRead();
            var primed = true;
            while (true)
            {
                var result = await input.ReadAsync().ConfigureAwait(false);
                var ended = result.IsCompleted || (result.IsCanceled && !primed);
                primed = false;
                var buffer = result.Buffer;
                foreach (var segment in buffer)
                {
                    // Socket.SendAsync on a stream socket completes once every byte is sent.
                    await upstream.SendAsync(segment, SocketFlags.None).ConfigureAwait(false);
                }
                if (!buffer.IsEmpty)
                    received.Add(buffer.Length);
                input.AdvanceTo(buffer.End);
                if (ended)
                    break;
            }
            upstream.Shutdown(SocketShutdown.Send);
            await input.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // Either side reset: nothing more can be delivered either way.
            upstream.Close();
            await input.CompleteAsync(ex).ConfigureAwait(false);
        }
    }

    /// <summary>Upstream -> client; the upstream's FIN completes the client's side (Kestrel then closes the socket).</summary>
    private static async Task CopyToClientAsync(Socket upstream, PipeWriter output, Counter sent)
    {
        try
        {
            while (true)
            {
                var memory = output.GetMemory(ReceiveBufferSize);
                var read = await upstream.ReceiveAsync(memory, SocketFlags.None).ConfigureAwait(false);
                if (read == 0)
                    break;
                output.Advance(read);
                sent.Add(read);
                var flushed = await output.FlushAsync().ConfigureAwait(false);
                if (flushed.IsCompleted || flushed.IsCanceled)
                {
                    // The client is gone: stop reading from the upstream too.
                    upstream.Close();
                    break;
                }
            }
            await output.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            await output.CompleteAsync(ex).ConfigureAwait(false);
        }
    }
}
