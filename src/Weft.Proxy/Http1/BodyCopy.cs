using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;

namespace Weft.Proxy.Http1;

/// <summary>How a body copy ended, naming the side that failed.</summary>
internal enum CopyStatus
{
    Done,
    SourceFailed,
    DestinationFailed,
    Malformed,
    Canceled,
}

/// <summary>
/// Body copy loops between pipes: Content-Length, chunked (decoded strictly, re-encoded or not) and
/// to-end (close-delimited, tunnels). Whatever the pipe holds is forwarded at once and flushed, so
/// bodies stream with the pipes' backpressure and are never buffered whole; the last piece is left
/// unflushed for the caller (a request is counted before its client can see the end, as on
/// Kestrel's path). Pooled state machines: no allocation per call.
/// </summary>
internal static class BodyCopy
{
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public static async ValueTask<CopyStatus> CopyLengthAsync(PipeReader source, PipeWriter destination, long length)
    {
        var first = true;
        while (length > 0)
        {
            ReadResult result;
            try
            {
                var pending = source.ReadAsync();
                if (first && !pending.IsCompleted)
                {
                    // Nothing to send yet (a stream, a long poll, a slow uploader): the head goes out now.
                    first = false;
                    if (!await FlushAsync(destination).ConfigureAwait(false))
                        return CopyStatus.DestinationFailed;
                }
                result = await pending.ConfigureAwait(false);
            }
            catch (Exception)
            {
                return CopyStatus.SourceFailed;
            }
            if (result.IsCanceled)
                return CopyStatus.Canceled;
            var buffer = result.Buffer;
            if (buffer.IsEmpty && result.IsCompleted)
                return CopyStatus.SourceFailed;
            var take = buffer.Length > length ? buffer.Slice(0, length) : buffer;
            Write(destination, take);
            length -= take.Length;
            source.AdvanceTo(take.End);
            if (length == 0)
                break;                                   // the caller flushes the end (after counting the request)
            if (!await FlushAsync(destination).ConfigureAwait(false))
                return CopyStatus.DestinationFailed;
        }
        return CopyStatus.Done;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public static async ValueTask<CopyStatus> CopyChunkedAsync(PipeReader source, PipeWriter destination, bool encode, Http1Limits limits)
    {
        var decoder = new ChunkedDecoder();
        var first = true;
        while (true)
        {
            ReadResult result;
            try
            {
                var pending = source.ReadAsync();
                if (first && !pending.IsCompleted)
                {
                    // Nothing to send yet (a stream, a long poll, a slow uploader): the head goes out now.
                    first = false;
                    if (!await FlushAsync(destination).ConfigureAwait(false))
                        return CopyStatus.DestinationFailed;
                }
                result = await pending.ConfigureAwait(false);
            }
            catch (Exception)
            {
                return CopyStatus.SourceFailed;
            }
            if (result.IsCanceled)
                return CopyStatus.Canceled;
            var buffer = result.Buffer;
            var ok = decoder.Decode(buffer, destination, encode, limits.MaxChunkLineBytes, limits.MaxHeaderBlockBytes, out var consumed);
            source.AdvanceTo(consumed, buffer.End);
            if (!ok)
                return CopyStatus.Malformed;
            if (decoder.IsDone)
                return CopyStatus.Done;                  // the caller flushes the end
            if (!await FlushAsync(destination).ConfigureAwait(false))
                return CopyStatus.DestinationFailed;
            if (result.IsCompleted)
                return CopyStatus.SourceFailed;
        }
    }

    /// <summary>Until the source ends (close-delimited bodies, tunnels). Completes nothing: the caller decides.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public static async ValueTask<CopyStatus> CopyToEndAsync(PipeReader source, PipeWriter destination)
    {
        var first = true;
        while (true)
        {
            ReadResult result;
            try
            {
                var pending = source.ReadAsync();
                if (first && !pending.IsCompleted)
                {
                    // Nothing to send yet (a stream, a long poll, a slow uploader): the head goes out now.
                    first = false;
                    if (!await FlushAsync(destination).ConfigureAwait(false))
                        return CopyStatus.DestinationFailed;
                }
                result = await pending.ConfigureAwait(false);
            }
            catch (Exception)
            {
                return CopyStatus.SourceFailed;
            }
            if (result.IsCanceled)
                return CopyStatus.Canceled;
            var buffer = result.Buffer;
            Write(destination, buffer);
            source.AdvanceTo(buffer.End);
            if (result.IsCompleted)
                return CopyStatus.Done;                  // the caller flushes the end
            if (!await FlushAsync(destination).ConfigureAwait(false))
                return CopyStatus.DestinationFailed;
        }
    }

    /// <summary>Probes the chunked bytes already buffered after a head: false when they are malformed.</summary>
    public static bool ProbeChunked(in ReadOnlySequence<byte> buffered, Http1Limits limits)
    {
        var probe = new ChunkedDecoder();
        return probe.Decode(buffered, null, false, limits.MaxChunkLineBytes, limits.MaxHeaderBlockBytes, out _);
    }

    public static void Write(PipeWriter destination, in ReadOnlySequence<byte> buffer)
    {
        if (buffer.IsSingleSegment)
        {
            destination.Write(buffer.FirstSpan);
            return;
        }
        foreach (var segment in buffer)
            destination.Write(segment.Span);
    }

    /// <summary>False when the reader on the other side is gone.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public static async ValueTask<bool> FlushAsync(PipeWriter destination)
    {
        try
        {
            var flush = await destination.FlushAsync().ConfigureAwait(false);
            return !flush.IsCompleted && !flush.IsCanceled;
        }
        catch (Exception)
        {
            return false;
        }
    }
}
