using System.Buffers;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;
using Weft.Proxy.Telemetry;
using Weft.Proxy.Upstream;

namespace Weft.Proxy.Codecs.Tcp;

/// <summary>How a splice ended, naming the side that failed.</summary>
internal enum SpliceEnd
{
    /// <summary>In order: each side's FIN passed on to the other, or the idle timeout closed both (FIN).</summary>
    Closed,
    /// <summary>The client reset or went away, or stopped reading (its bytes stuck at the idle timeout): both sides were reset.</summary>
    ClientFailed,
    /// <summary>The upstream reset or went away, or stopped reading (its bytes stuck at the idle timeout): both sides were reset.</summary>
    UpstreamFailed,
}

/// <summary>
/// The one byte splice: two connections joined, bytes copied both ways exactly, for TCP, TLS
/// passthrough, a capture listener's passthrough and HTTP/1.1 upgrades (WebSocket). Half-close is
/// honoured: when one side ends its sending (FIN), the other side's sending ends too and the other
/// direction runs on until it ends. A failure on either side (a reset, a write that cannot go) resets
/// both, before either is closed, so a failure never reaches a peer as a FIN. With no byte moved
/// either way for the idle timeout both are closed: with a FIN when nothing was left undelivered,
/// else with a reset (a peer that stopped reading holds bytes it never got: that is no progress).
/// </summary>
internal sealed class Splice : IHeartbeatWatch
{
    private readonly Heartbeat _heartbeat;
    private readonly IDuplexPipe _client;
    private readonly Action _resetClient;
    private readonly UpstreamTransport _upstream;
    private readonly long _idleTicks;
    private long _lastActivity;
    private int _idleClosed;
    private int _end;
    private int _endedOutputs;

    private Splice(Heartbeat heartbeat, IDuplexPipe client, Action resetClient, UpstreamTransport upstream, long idleTicks)
    {
        _heartbeat = heartbeat;
        _client = client;
        _resetClient = resetClient;
        _upstream = upstream;
        _idleTicks = idleTicks;
        _lastActivity = heartbeat.Now;
    }

    private bool IdleClosed => Volatile.Read(ref _idleClosed) != 0;

    /// <summary>
    /// Splices until both directions end. The upstream side is a connection the Connector made: its own
    /// <see cref="UpstreamTransport.Reset"/> is its abort. The caller still owns both connections.
    /// </summary>
    /// <param name="resetClient">Ends the client's connection with a reset (RST), never a FIN.</param>
    /// <param name="primeClient">
    /// Protocol detection may have left the client's first bytes examined (its window ended after they
    /// arrived): a plain read would wait for more, which a client that sent a partial message and now
    /// waits for the server never sends. A cancelled read returns what is buffered at once; that first
    /// cancellation is ours, not an end.
    /// </param>
    public static async Task<SpliceEnd> RunAsync(Heartbeat heartbeat, IDuplexPipe client, Action resetClient, UpstreamTransport upstream,
        TimeSpan idleTimeout, Counter? fromClient, Counter? toClient, bool primeClient)
    {
        var splice = new Splice(heartbeat, client, resetClient, upstream, heartbeat.Ticks(idleTimeout));
        if (idleTimeout > TimeSpan.Zero)
            heartbeat.Add(splice);
        try
        {
            if (primeClient)
                client.Input.CancelPendingRead();
            var up = splice.CopyAsync(client.Input, upstream.Output, fromClient, primeClient, SpliceEnd.ClientFailed, SpliceEnd.UpstreamFailed);
            var down = splice.CopyAsync(upstream.Input, client.Output, toClient, primed: false, SpliceEnd.UpstreamFailed, SpliceEnd.ClientFailed);
            await Task.WhenAll(up, down).ConfigureAwait(false);
        }
        finally
        {
            heartbeat.Remove(splice);
        }
        if (splice.IdleClosed || Volatile.Read(ref splice._end) != (int)SpliceEnd.Closed)
        {
            // Left open by directions the idle close stopped or a failure ended: completed only now,
            // after any reset (a FIN sent before a reset would tell a peer the stream ended in order).
            await CompleteAsync(upstream.Output).ConfigureAwait(false);
            await CompleteAsync(client.Output).ConfigureAwait(false);
            await CompleteAsync(client.Input).ConfigureAwait(false);
            await CompleteAsync(upstream.Input).ConfigureAwait(false);
        }
        return (SpliceEnd)Volatile.Read(ref splice._end);
    }

    /// <summary>
    /// One direction: until its source's FIN (passed on at once), a failure (both sides reset first), or
    /// the idle close (its pipes then completed by <see cref="RunAsync"/>).
    /// </summary>
    private async Task CopyAsync(PipeReader source, PipeWriter destination, Counter? counter, bool primed, SpliceEnd sourceFailed, SpliceEnd destinationFailed)
    {
        var failed = SpliceEnd.Closed;
        var reading = true;
        try
        {
            while (true)
            {
                reading = true;
                var result = await source.ReadAsync().ConfigureAwait(false);
                reading = false;
                var buffer = result.Buffer;
                var canceled = result.IsCanceled && !primed;
                primed = false;
                if (!buffer.IsEmpty)
                {
                    Volatile.Write(ref _lastActivity, _heartbeat.Now);
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
                        // Gone, or cancelled by the idle close: its reader stopped reading, so what was
                        // written never reached it.
                        failed = destinationFailed;
                        break;
                    }
                    // Handed on: progress, as much as the bytes' arrival was (a reader slower than the
                    // idle timeout per read's worth of bytes counts as stopped).
                    Volatile.Write(ref _lastActivity, _heartbeat.Now);
                }
                if (result.IsCompleted)
                    break;
                if (canceled)
                {
                    if (IdleClosed)
                        return;
                    failed = sourceFailed;          // torn down by someone else
                    break;
                }
            }
        }
        catch (ConnectionAbortedException) when (reading && OutputEnded(sourceFailed))
        {
            // Kestrel's socket transport has no half-close: the FIN this splice passed on to the source's
            // connection closed it both ways, and its read ends so. Our own orderly end, not a failure.
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException or OperationCanceledException
                                       or System.Net.Sockets.SocketException)
        {
            // A read that throws is the source's failure (a reset); a write or flush that throws, the destination's.
            failed = reading ? sourceFailed : destinationFailed;
        }
        if (failed != SpliceEnd.Closed)
            Fail(failed);
        else
            Interlocked.Or(ref _endedOutputs, 1 << (int)destinationFailed);
        // Once a failure is decided (here or by the other direction), completing a pipe may send its
        // peer a FIN before that peer's reset: the other direction can run on inside a reset, before
        // the second side is reset. RunAsync completes them after both resets.
        if (Volatile.Read(ref _end) != (int)SpliceEnd.Closed)
            return;
        await CompleteAsync(destination).ConfigureAwait(false);
        await CompleteAsync(source).ConfigureAwait(false);
    }

    /// <summary>Whether this splice ended that side's sending in order (its output completed: a FIN).</summary>
    private bool OutputEnded(SpliceEnd side) => (Volatile.Read(ref _endedOutputs) & (1 << (int)side)) != 0;

    /// <summary>The first failure resets both sides: nothing more can be delivered either way.</summary>
    private void Fail(SpliceEnd end)
    {
        if (Interlocked.CompareExchange(ref _end, (int)end, (int)SpliceEnd.Closed) != (int)SpliceEnd.Closed)
            return;
        _upstream.Reset();
        _resetClient();
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
        // Nothing moved either way for the idle timeout. A direction waiting for bytes stops and both
        // sides are closed in order (FIN both ways); one stuck in a flush, its reader having stopped
        // reading, fails (reset both ways): what it wrote was never delivered.
        _client.Output.CancelPendingFlush();
        _upstream.Output.CancelPendingFlush();
        _client.Input.CancelPendingRead();
        _upstream.Input.CancelPendingRead();
    }
}
