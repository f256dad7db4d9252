using Weft.Proxy.Memory;
using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;

namespace Weft.Proxy.Pipeline;

/// <summary>
/// Where a body's decoded bytes go, framed as the receiving side needs (HTTP/1.1 Content-Length or
/// chunked, Kestrel's response writer, an HTTP/2 upstream's request stream).
/// </summary>
internal interface IBodySink
{
    void Write(in ReadOnlySequence<byte> data);

    /// <summary>Sends what was written; false when the other side is gone.</summary>
    ValueTask<bool> FlushAsync();

    /// <summary>Marks the end of the body (a chunked body's last chunk); not flushed, so the caller can count the request first.</summary>
    void WriteEnd();
}

/// <summary>How a body copy ended, naming the side that failed.</summary>
internal enum CopyStatus
{
    Done,
    /// <summary>The source failed or ended early (a reset, a truncated body).</summary>
    SourceFailed,
    /// <summary>The source's framing was malformed (a bad chunk): a client's fault, not the network's.</summary>
    Malformed,
    /// <summary>The destination is gone.</summary>
    DestinationFailed,
    /// <summary>The read was cancelled (CancelPendingRead): the exchange is being torn down.</summary>
    Canceled,
}

/// <summary>A body's framing broke (a bad chunk size or line): thrown by decoding readers, reported as <see cref="CopyStatus.Malformed"/>.</summary>
internal sealed class MalformedBodyException(string message) : IOException(message);

/// <summary>
/// The one body copy loop: whatever the source holds is written and flushed at once, so bodies stream
/// with each side's backpressure and are never buffered whole. The end is written but not flushed:
/// the caller counts the request first, so whoever sees the end also sees it counted. Pooled state
/// machine: no allocation per call.
/// </summary>
internal static class BodyPump
{
    /// <param name="flushWhenIdle">
    /// When the source has nothing yet on the first read (a stream, a long poll, a slow uploader), flush
    /// the sink first: a head written but held back goes out now instead of waiting for the first bytes.
    /// </param>
    public static ValueTask<CopyStatus> CopyAsync(PipeReader source, IBodySink sink, bool flushWhenIdle = true)
    {
        // The whole body at hand already (a small answer that came with its head): copied with no async step.
        try
        {
            if (source.TryRead(out var result))
            {
                var buffer = result.Buffer;
                if (result.IsCompleted && !result.IsCanceled)
                {
                    if (!buffer.IsEmpty)
                        sink.Write(buffer);
                    source.AdvanceTo(buffer.End);
                    sink.WriteEnd();
                    return new ValueTask<CopyStatus>(CopyStatus.Done);
                }
                // Not all of it: the loop below reads it again.
                source.AdvanceTo(buffer.Start);
            }
        }
        catch (MalformedBodyException)
        {
            return new ValueTask<CopyStatus>(CopyStatus.Malformed);
        }
        catch (Exception)
        {
            return new ValueTask<CopyStatus>(CopyStatus.SourceFailed);
        }
        return CopyLoopAsync(source, sink, flushWhenIdle);
    }

    [AsyncMethodBuilder(typeof(DeepPoolingBuilder<>))]
    private static async ValueTask<CopyStatus> CopyLoopAsync(PipeReader source, IBodySink sink, bool flushWhenIdle)
    {
        var first = flushWhenIdle;
        while (true)
        {
            ReadResult result;
            try
            {
                var pending = source.ReadAsync();
                if (first && !pending.IsCompleted)
                {
                    first = false;
                    if (!await sink.FlushAsync().ConfigureAwait(false))
                    {
                        source.CancelPendingRead();
                        await DrainCanceledAsync(pending).ConfigureAwait(false);
                        return CopyStatus.DestinationFailed;
                    }
                }
                first = false;
                result = await pending.ConfigureAwait(false);
            }
            catch (MalformedBodyException)
            {
                return CopyStatus.Malformed;
            }
            catch (Exception)
            {
                return CopyStatus.SourceFailed;
            }
            if (result.IsCanceled)
                return CopyStatus.Canceled;
            var buffer = result.Buffer;
            if (!buffer.IsEmpty)
                sink.Write(buffer);
            source.AdvanceTo(buffer.End);
            if (result.IsCompleted)
            {
                sink.WriteEnd();
                return CopyStatus.Done;
            }
            if (!await sink.FlushAsync().ConfigureAwait(false))
                return CopyStatus.DestinationFailed;
        }
    }

    private static async ValueTask DrainCanceledAsync(ValueTask<ReadResult> pending)
    {
        try
        {
            await pending.ConfigureAwait(false);
        }
        catch (Exception)
        {
            // The copy failed on its destination; what the source says now does not matter.
        }
    }
}

/// <summary>Writes a body into a PipeWriter that frames it itself (Kestrel's response body); Content-Length or not, bytes pass as they are.</summary>
internal sealed class PipeBodySink(PipeWriter writer) : IBodySink
{
    public void Write(in ReadOnlySequence<byte> data)
    {
        foreach (var segment in data)
        {
            var source = segment.Span;
            while (!source.IsEmpty)
            {
                // The size hint matters: Kestrel's response writer hands out no memory without one.
                var span = writer.GetSpan(source.Length);
                var take = Math.Min(span.Length, source.Length);
                source[..take].CopyTo(span);
                writer.Advance(take);
                source = source[take..];
            }
        }
    }

    public async ValueTask<bool> FlushAsync()
    {
        try
        {
            var flushed = await writer.FlushAsync().ConfigureAwait(false);
            return !flushed.IsCompleted && !flushed.IsCanceled;
        }
        catch (Exception)
        {
            return false;
        }
    }

    public void WriteEnd()
    {
    }
}
