using System.IO.Pipelines;

namespace Weft.Proxy.Http1;

/// <summary>
/// After 101 Switching Protocols (WebSocket, or any upgrade but h2c) the connection is no longer
/// HTTP: bytes are spliced both ways, opaque, for as long as both sides keep it open. When one side ends its sending, the other side's
/// writer is completed (half-close as far as the transport carries it) and the splice waits for the
/// other direction to end too. The upstream connection is never pooled again.
/// </summary>
internal static class UpgradeSplice
{
    public static async Task SpliceAsync(PipeReader client, PipeWriter clientOutput, UpstreamConnection upstream)
    {
        var up = OneWayAsync(client, upstream.Output);
        var down = OneWayAsync(upstream.Input, clientOutput);
        var first = await Task.WhenAny(up, down).ConfigureAwait(false);
        if (await first.ConfigureAwait(false) != CopyStatus.Done)
        {
            // A failure (not an orderly end) on one side: tear the other down too.
            upstream.Abort();
            client.CancelPendingRead();
        }
        await Task.WhenAll(up, down).ConfigureAwait(false);
    }

    private static async Task<CopyStatus> OneWayAsync(PipeReader source, PipeWriter destination)
    {
        var status = await BodyCopy.CopyToEndAsync(source, destination).ConfigureAwait(false);
        if (status == CopyStatus.Done)
            await BodyCopy.FlushAsync(destination).ConfigureAwait(false);
        try
        {
            await destination.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException or ObjectDisposedException)
        {
            // Already gone.
        }
        return status;
    }
}
