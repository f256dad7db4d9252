using System.Buffers;
using System.IO.Pipelines;
using Weft.Proxy.Pipeline;

namespace Weft.Proxy.Codecs.Http1;

/// <summary>
/// A body written to an HTTP/1.x peer, framed as its head said: as it is (Content-Length, or until
/// the connection ends) or chunked. One per connection side, reused.
/// </summary>
internal sealed class Http1BodyWriter(Heartbeat? clock = null) : IBodySink
{
    private PipeWriter _output = null!;
    private bool _chunked;
    private long _waitStart;          // a flush waiting on the peer since (clock timestamp); 0: none
    private long _unflushed;          // bytes the waiting flush has to move

    public void Start(PipeWriter output, bool chunked)
    {
        _output = output;
        _chunked = chunked;
        _unflushed = 0;
    }

    public void Write(in ReadOnlySequence<byte> data)
    {
        _unflushed += data.Length;
        if (_chunked)
        {
            if (data.IsEmpty)
                return;
            // One chunk per write: its size is known, and a chunk boundary is nobody's business.
            ChunkedDecoder.WriteChunkHeader(_output, checked((int)data.Length));
            Copy(data);
            _output.Write("\r\n"u8);
            return;
        }
        Copy(data);
    }

    private void Copy(in ReadOnlySequence<byte> data)
    {
        if (data.IsSingleSegment)
        {
            _output.Write(data.FirstSpan);
            return;
        }
        foreach (var segment in data)
            _output.Write(segment.Span);
    }

    public ValueTask<bool> FlushAsync()
    {
        if (clock is null)
            return Flush(_output);
        ValueTask<FlushResult> flush;
        try
        {
            flush = _output.FlushAsync();
        }
        catch (Exception)
        {
            return new ValueTask<bool>(false);
        }
        if (!flush.IsCompletedSuccessfully)
            return WaitAsync(flush);
        _unflushed = 0;
        var result = flush.Result;
        return new ValueTask<bool>(!result.IsCompleted && !result.IsCanceled);
    }

    /// <summary>A flush the peer holds up (it reads slower than it is sent to): timed for the minimum data rate.</summary>
    private async ValueTask<bool> WaitAsync(ValueTask<FlushResult> flush)
    {
        Volatile.Write(ref _waitStart, clock!.Now);
        try
        {
            var result = await flush.ConfigureAwait(false);
            return !result.IsCompleted && !result.IsCanceled;
        }
        catch (Exception)
        {
            return false;
        }
        finally
        {
            Volatile.Write(ref _waitStart, 0);
            _unflushed = 0;
        }
    }

    /// <summary>
    /// A flush has waited on the peer longer than the grace plus the time its bytes take at the minimum
    /// rate (Kestrel's MinResponseDataRate rule): the peer reads too slowly.
    /// </summary>
    public bool TooSlow(long now, long graceTicks, int bytesPerSecond, double frequency)
    {
        var start = Volatile.Read(ref _waitStart);
        if (start == 0)
            return false;
        var allowance = graceTicks + (long)(Volatile.Read(ref _unflushed) / (double)bytesPerSecond * frequency);
        return now - start > allowance;
    }

    public void WriteEnd()
    {
        if (_chunked)
            _output.Write("0\r\n\r\n"u8);
    }

    /// <summary>False when the reader on the other side is gone.</summary>
    public static async ValueTask<bool> Flush(PipeWriter output)
    {
        try
        {
            var flush = await output.FlushAsync().ConfigureAwait(false);
            return !flush.IsCompleted && !flush.IsCanceled;
        }
        catch (Exception)
        {
            return false;
        }
    }
}
