using System.Buffers;
using Microsoft.AspNetCore.Http;

namespace Weft.Proxy.Http;

/// <summary>
/// HTTP/1.1 Upgrade (WebSocket, or any protocol but h2c) on Kestrel's path: which offers are forwarded,
/// and the tunnel after the upstream's 101.
///
/// Why on Kestrel's path and not by widening the lean one: a connection handed to Kestrel never comes
/// back, so this path must carry upgrades whatever the lean one does, and the lean path would need a
/// second copy of Kestrel's target normalization. Why through SocketsHttpHandler and not a raw socket:
/// HttpForwarder already brings connect failover, header rules, modifiers, failure answers and the
/// relay of a non-101 answer; on a 101 the handler hands over the connection itself as the response
/// stream (as ClientWebSocket and YARP use it). A raw socket could half-close toward the upstream, but
/// nothing would come of it: Kestrel closes a connection whose client sent FIN (what is written after
/// never arrives) and cannot half-close toward the client, so either side's end is the tunnel's end.
/// </summary>
internal static class UpgradeTunnel
{
    /// <summary>
    /// The Upgrade value to forward, or null when the request is not an upgrade the proxy forwards.
    /// Call only for a request Kestrel found upgradable (HTTP/1.1, Connection: upgrade, no body). h2c is
    /// never forwarded: the hop to the upstream speaks what the cluster says (curl --http2 offers h2c
    /// and gets a plain HTTP/1.1 answer). The lean path's rule is MessageHead.IsUpgrade.
    /// </summary>
    public static string? Offered(HttpRequest request)
    {
        if (!HttpProtocol.IsHttp11(request.Protocol))
            return null;
        var upgrade = request.Headers.Upgrade;
        if (upgrade.Count == 0)
            return null;
        var value = upgrade.ToString().Trim();
        return value.Length == 0 || value.Equals("h2c", StringComparison.OrdinalIgnoreCase) ? null : value;
    }

    /// <summary>
    /// Copies both ways, each read written and flushed at once, until one side ends or fails; then
    /// stops the other direction (see the type's summary for why the first end ends both).
    /// </summary>
    public static async Task RunAsync(Stream client, Stream upstream, CancellationToken aborted)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(aborted);
        var up = CopyAsync(client, upstream, stop.Token);
        var down = CopyAsync(upstream, client, stop.Token);
        await Task.WhenAny(up, down).ConfigureAwait(false);
        await stop.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(up, down).ConfigureAwait(false);
    }

    private static async Task CopyAsync(Stream source, Stream destination, CancellationToken stop)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(StreamingRequestContent.BufferSize);
        try
        {
            while (true)
            {
                var read = await source.ReadAsync(buffer.AsMemory(), stop).ConfigureAwait(false);
                if (read == 0)
                    return;
                await destination.WriteAsync(buffer.AsMemory(0, read), stop).ConfigureAwait(false);
                await destination.FlushAsync(stop).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
        {
            // One side reset or went away, or the other direction ended first: the tunnel is over.
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
