using System.Buffers;
using System.IO.Pipelines;
using Weft.Proxy.Telemetry;

namespace Weft.Proxy.Codecs.Tcp;

/// <summary>
/// The one byte splice: two connections joined, bytes copied both ways exactly, for TCP, TLS
/// passthrough, a capture listener's passthrough and HTTP/1.1 upgrades (WebSocket). Half-close is
/// honoured: when one side ends its sending (FIN), the other side's sending ends too and the other
/// direction runs on until it ends. A failure (a reset) on either side resets the other. With no byte
/// either way for the idle timeout, both are closed.
/// </summary>
internal sealed class Splice : IHeartbeatWatch
{
    private readonly IDuplexPipe _client;
    private readonly IDuplexPipe _upstream;
    private readonly long _idleTicks;
    private long _lastActivity;
    private int _idleClosed;

    private Splice(IDuplexPipe client, IDuplexPipe upstream, long idleTicks, long now)
    {
        _client = client;
        _upstream = upstream;
        _idleTicks = idleTicks;
        _lastActivity = now;
    }

    /// <summary>True when the splice ended because nothing moved for the idle timeout.</summary>
    public bool IdleClosed => Volatile.Read(ref _idleClosed) != 0;

    /// <param name="primeClient">
    /// Protocol detection may have left the client's first bytes examined (its window ended after they
    /// arrived): a plain read would wait for more, which a client that sent a partial message and now
    /// waits for the server never sends. A cancelled read returns what is buffered at once; that first
    /// cancellation is ours, not an end.
    /// </param>
    public static async Task<bool> RunAsync(Heartbeat heartbeat, IDuplexPipe client, Action resetClient, IDuplexPipe upstream, Action resetUpstream,
        TimeSpan idleTimeout, Counter? fromClient, Counter? toClient, bool primeClient)
    {
        var splice = new Splice(client, upstream, heartbeat.Ticks(idleTimeout), heartbeat.Now);
        if (idleTimeout > TimeSpan.Zero)
            heartbeat.Add(splice);
        try
        {
            if (primeClient)
                client.Input.CancelPendingRead();
            var up = splice.CopyAsync(heartbeat, client.Input, upstream.Output, fromClient, primeClient);
            var down = splice.CopyAsync(heartbeat, upstream.Input, client.Output, toClient, primed: false);
            var first = await Task.WhenAny(up, down).ConfigureAwait(false);
            if (!await first.ConfigureAwait(false))
            {
                // A failure, not an orderly end: nothing more can be delivered either way.
                resetUpstream();
                resetClient();
            }
            await Task.WhenAll(up, down).ConfigureAwait(false);
            return up.Result && down.Result;
        }
        finally
        {
            heartbeat.Remove(splice);
        }
    }

    /// <summary>One direction; true when it ended in order (its source's FIN, or the idle close).</summary>
    private async Task<bool> CopyAsync(Heartbeat heartbeat, PipeReader source, PipeWriter destination, Counter? counter, bool primed)
    {
        var ok = true;
        try
        {
            while (true)
            {
                var result = await source.ReadAsync().ConfigureAwait(false);
                var buffer = result.Buffer;
                var canceled = result.IsCanceled && !primed;
                primed = false;
                if (!buffer.IsEmpty)
                {
                    Volatile.Write(ref _lastActivity, heartbeat.Now);
                    foreach (var segment in buffer)
                        destination.Write(segment.Span);
                    counter?.Add(buffer.Length);
                }
                source.AdvanceTo(buffer.End);
                if (!buffer.IsEmpty)
                {
                    var flushed = await destination.FlushAsync().ConfigureAwait(false);
                    if (flushed.IsCompleted || flushed.IsCanceled)
                    {
                        ok = false;                   // the destination is gone
                        break;
                    }
                }
                if (result.IsCompleted || canceled)
                {
                    ok = result.IsCompleted || IdleClosed;
                    break;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException or OperationCanceledException
                                       or System.Net.Sockets.SocketException)
        {
            ok = false;
        }
        await CompleteAsync(destination).ConfigureAwait(false);
        await CompleteAsync(source).ConfigureAwait(false);
        return ok;
    }

    private static async ValueTask CompleteAsync(PipeWriter writer)
    {
        try
        {
            await writer.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException)
        {
            // Already gone.
        }
    }

    private static async ValueTask CompleteAsync(PipeReader reader)
    {
        try
        {
            await reader.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException)
        {
            // Already gone.
        }
    }

    public void OnHeartbeat(long now)
    {
        if (now - Volatile.Read(ref _lastActivity) <= _idleTicks || Interlocked.Exchange(ref _idleClosed, 1) != 0)
            return;
        // Nothing moved either way for the idle timeout: both directions end, in order (FIN both ways).
        _client.Input.CancelPendingRead();
        _upstream.Input.CancelPendingRead();
    }
}
