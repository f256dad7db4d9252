using System.IO.Pipelines;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Weft.Proxy.Config;

namespace Weft.Proxy.Listeners;

/// <summary>
/// TCP listeners: each connection goes to one endpoint of the listener's cluster (round robin, next
/// endpoint when a connect fails), then bytes are copied both ways until either side closes.
/// </summary>
internal sealed class TcpForwarder(RuntimeState state, ILogger logger)
{
    public Task HandleAsync(ConnectionContext connection, int port)
    {
        var runtime = state.Current;
        if (!runtime.ListenersByPort.TryGetValue(port, out var listener))
            return Task.CompletedTask;
        return HandleAsync(connection, runtime, listener);
    }

    /// <summary>Serves a connection as <paramref name="listener"/> says (also a capture listener's per-destination one).</summary>
    public async Task HandleAsync(ConnectionContext connection, ProxyRuntime runtime, ListenerRuntime listener)
    {
        var port = listener.Port;
        if (!runtime.Clusters.TryGetValue(listener.TcpCluster, out var cluster)
            || cluster.Endpoints.Length == 0)
        {
            return;
        }

        var endpoints = cluster.Endpoints;
        var start = cluster.Balancer.PickStart(endpoints.Length);
        Socket? socket = null;
        for (var attempt = 0; attempt < endpoints.Length && socket is null; attempt++)
        {
            var endpoint = endpoints[(start + attempt) % endpoints.Length];
            endpoint.Stats.RecordRequest();
            var candidate = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            using var timeout = new CancellationTokenSource(cluster.ConnectTimeout);
            try
            {
                await candidate.ConnectAsync(endpoint.Address, endpoint.Port, timeout.Token).ConfigureAwait(false);
                socket = candidate;
            }
            catch (Exception ex) when (ex is SocketException or OperationCanceledException)
            {
                candidate.Dispose();
                endpoint.Stats.RecordFailure("ConnectFailed: " + ex.Message);
                Log.TcpForwardFailed(logger, port, cluster.Name, ex);
            }
        }
        if (socket is null)
            return;
        await SpliceAsync(connection, socket).ConfigureAwait(false);
    }

    /// <summary>Copies bytes both ways between the connection and a connected socket (which it then owns) until both sides finish.</summary>
    public static async Task SpliceAsync(ConnectionContext connection, Socket socket)
    {
        await using var upstream = new NetworkStream(socket, ownsSocket: true);
        var toUpstream = CopyToUpstreamAsync(connection.Transport.Input, upstream, socket);
        var toClient = CopyToClientAsync(upstream, connection.Transport.Output);
        await Task.WhenAll(toUpstream, toClient).ConfigureAwait(false);
    }

    private static async Task CopyToUpstreamAsync(PipeReader input, NetworkStream upstream, Socket socket)
    {
        try
        {
            await input.CopyToAsync(upstream).ConfigureAwait(false);
            // Half-close: the client finished sending; the upstream may still answer.
            socket.Shutdown(SocketShutdown.Send);
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            socket.Close();
        }
    }

    private static async Task CopyToClientAsync(NetworkStream upstream, PipeWriter output)
    {
        try
        {
            await upstream.CopyToAsync(output).ConfigureAwait(false);
            await output.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            await output.CompleteAsync(ex).ConfigureAwait(false);
        }
    }
}
