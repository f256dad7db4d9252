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
            var read = await ReadAsync(source, destination, first).ConfigureAwait(false);
            if (read.Failure is { } failure)
                return failure;
            first &= !read.HeadFlushed;
            var result = read.Result;
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
            var read = await ReadAsync(source, destination, first).ConfigureAwait(false);
            if (read.Failure is { } failure)
                return failure;
            first &= !read.HeadFlushed;
            var result = read.Result;
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
            var read = await ReadAsync(source, destination, first).ConfigureAwait(false);
            if (read.Failure is { } failure)
                return failure;
            first &= !read.HeadFlushed;
            var result = read.Result;
            var buffer = result.Buffer;
            Write(destination, buffer);
            source.AdvanceTo(buffer.End);
            if (result.IsCompleted)
                return CopyStatus.Done;                  // the caller flushes the end
            if (!await FlushAsync(destination).ConfigureAwait(false))
                return CopyStatus.DestinationFailed;
        }
    }

    /// <summary>One read of the source; when nothing is ready yet and the head is still held back, the head goes out first.</summary>
    private readonly record struct BodyRead(ReadResult Result, CopyStatus? Failure, bool HeadFlushed);

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private static async ValueTask<BodyRead> ReadAsync(PipeReader source, PipeWriter destination, bool headPending)
    {
        try
        {
            var pending = source.ReadAsync();
            var flushed = false;
            if (headPending && !pending.IsCompleted)
            {
                // Nothing to send yet (a stream, a long poll, a slow uploader): the head goes out now.
                flushed = true;
                if (!await FlushAsync(destination).ConfigureAwait(false))
                    return new BodyRead(default, CopyStatus.DestinationFailed, flushed);
            }
            var result = await pending.ConfigureAwait(false);
            return new BodyRead(result, result.IsCanceled ? CopyStatus.Canceled : null, flushed);
        }
        catch (Exception)
        {
            return new BodyRead(default, CopyStatus.SourceFailed, false);
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
