using System.Buffers;
using System.IO.Pipelines;

namespace Weft.Proxy.Codecs.Http1;

/// <summary>How an HTTP/1.x message body is delimited.</summary>
internal enum BodyFraming : byte
{
    None,
    /// <summary>Content-Length bytes.</summary>
    Length,
    Chunked,
    /// <summary>Until the connection's end (an HTTP/1.x response without length; the bytes after a 101).</summary>
    ToEnd,
}

/// <summary>
/// An HTTP/1.x body as decoded bytes, read in place from the connection's reader: Content-Length is a
/// slice of what arrived, chunked data is handed out chunk by chunk with the framing stepped over (no
/// copy). Positions given back in AdvanceTo are the connection's own, so consuming body bytes consumes
/// them on the connection; bytes after the body (a pipelined request) stay there untouched. One per
/// connection side, reused for every message.
/// </summary>
internal sealed class Http1BodyReader : PipeReader
{
    private readonly Http1Limits _limits;
    private readonly Heartbeat? _clock;
    private long _waitStart;         // a read waiting on the peer since (clock timestamp); 0: none
    private long _waited;            // ticks spent waiting on the peer, this body
    private PipeReader _inner = null!;
    private BodyFraming _framing;
    private long _remaining;                // Length: bytes left
    private ChunkedDecoder _chunks;
    private bool _done;
    private ReadOnlySequence<byte> _handedOut;
    private SequencePosition _endAfter;     // chunked: where the framing after the handed-out data ends when it ends the body
    private bool _endsWithHandedOut;
    private long _received;

    public Http1BodyReader(Http1Limits limits, Heartbeat? clock = null)
    {
        _limits = limits;
        _clock = clock;
    }

    public BodyFraming Framing => _framing;

    /// <summary>The body was read to its end (a connection can carry another message).</summary>
    public bool IsComplete => _done;

    /// <summary>Body bytes handed out so far (for the minimum data rate).</summary>
    public long Received => _received;

    public void Start(PipeReader inner, BodyFraming framing, long length)
    {
        _inner = inner;
        _framing = framing;
        _remaining = length;
        _chunks = default;
        _done = framing == BodyFraming.None || (framing == BodyFraming.Length && length == 0);
        _handedOut = default;
        _endsWithHandedOut = false;
        _received = 0;
        _waited = 0;
        _waitStart = 0;
    }

    /// <summary>
    /// The peer sends the body slower than <paramref name="bytesPerSecond"/> over the time a read has
    /// waited on it, past the grace (Kestrel's MinRequestBodyDataRate rule): counted only while waiting,
    /// so an upstream that reads slowly never makes the client look slow.
    /// </summary>
    public bool TooSlow(long now, long graceTicks, int bytesPerSecond, double frequency)
    {
        var start = Volatile.Read(ref _waitStart);
        if (start == 0)
            return false;
        var waited = Volatile.Read(ref _waited) + (now - start);
        return waited > graceTicks && Volatile.Read(ref _received) < bytesPerSecond * (waited / frequency);
    }

    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(Weft.Proxy.Memory.DeepPoolingBuilder<>))]
    public override async ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        while (true)
        {
            if (_done)
                return new ReadResult(ReadOnlySequence<byte>.Empty, isCanceled: false, isCompleted: true);
            var pending = _inner.ReadAsync(cancellationToken);
            ReadResult result;
            if (pending.IsCompleted || _clock is null)
            {
                result = await pending.ConfigureAwait(false);
            }
            else
            {
                var start = _clock.Now;
                Volatile.Write(ref _waitStart, start);
                try
                {
                    result = await pending.ConfigureAwait(false);
                }
                finally
                {
                    Volatile.Write(ref _waited, _waited + (_clock.Now - start));
                    Volatile.Write(ref _waitStart, 0);
                }
            }
            if (TryTake(result, out var taken))
                return taken;
        }
    }

    public override bool TryRead(out ReadResult result)
    {
        if (_done)
        {
            result = new ReadResult(ReadOnlySequence<byte>.Empty, isCanceled: false, isCompleted: true);
            return true;
        }
        // One try: a read that held only framing is consumed, and the caller's next ReadAsync goes on.
        if (_inner.TryRead(out var inner) && TryTake(inner, out result))
            return true;
        result = default;
        return false;
    }

    /// <summary>What to hand out of one inner read; false when it held only framing (consumed) and more must be read.</summary>
    private bool TryTake(in ReadResult result, out ReadResult taken)
    {
        var buffer = result.Buffer;
        if (result.IsCanceled)
        {
            // The caller's AdvanceTo (to this empty slice's start) ends the inner read.
            _handedOut = buffer.Slice(0, 0);
            taken = new ReadResult(_handedOut, isCanceled: true, isCompleted: false);
            return true;
        }
        switch (_framing)
        {
            case BodyFraming.Length:
                if (buffer.IsEmpty && result.IsCompleted)
                {
                    _inner.AdvanceTo(buffer.End);
                    throw Truncated();
                }
                _handedOut = buffer.Length > _remaining ? buffer.Slice(0, _remaining) : buffer;
                taken = new ReadResult(_handedOut, isCanceled: false, isCompleted: _handedOut.Length == _remaining);
                return true;
            case BodyFraming.ToEnd:
                _handedOut = buffer;
                taken = new ReadResult(buffer, isCanceled: false, isCompleted: result.IsCompleted);
                return true;
            default:
                return TakeChunk(result, out taken);
        }
    }

    private bool TakeChunk(in ReadResult result, out ReadResult taken)
    {
        var buffer = result.Buffer;
        var reader = new SequenceReader<byte>(buffer);
        switch (_chunks.Next(ref reader, _limits.MaxChunkLineBytes, _limits.MaxHeaderBlockBytes))
        {
            case ChunkStep.Malformed:
                _inner.AdvanceTo(reader.Position);
                _done = true;
                throw new Pipeline.MalformedBodyException("malformed chunked body");
            case ChunkStep.Done:
                _inner.AdvanceTo(reader.Position);
                _done = true;
                _handedOut = default;
                taken = new ReadResult(ReadOnlySequence<byte>.Empty, isCanceled: false, isCompleted: true);
                return true;
            case ChunkStep.NeedMore:
                if (result.IsCompleted)
                {
                    _inner.AdvanceTo(reader.Position);
                    throw Truncated();
                }
                _inner.AdvanceTo(reader.Position, buffer.End);
                taken = default;
                return false;
        }
        var data = buffer.Slice(reader.Position, Math.Min(_chunks.DataRemaining, reader.Remaining));
        _handedOut = data;
        // When the framing right after this data ends the body (the usual last chunk of a small
        // answer), say so now: the copy then writes the end without a flush in between.
        _endsWithHandedOut = false;
        if (data.Length == _chunks.DataRemaining)
        {
            var probe = _chunks;
            probe.ConsumedData(data.Length);
            var after = new SequenceReader<byte>(buffer.Slice(data.End));
            if (probe.Next(ref after, _limits.MaxChunkLineBytes, _limits.MaxHeaderBlockBytes) == ChunkStep.Done)
            {
                _endsWithHandedOut = true;
                _endAfter = after.Position;
            }
        }
        taken = new ReadResult(data, isCanceled: false, isCompleted: _endsWithHandedOut);
        return true;
    }

    public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        if (_done && _handedOut.IsEmpty)
            return;
        var taken = _handedOut.Slice(0, consumed).Length;
        _received += taken;
        switch (_framing)
        {
            case BodyFraming.Length:
                _remaining -= taken;
                if (_remaining == 0)
                    _done = true;
                break;
            case BodyFraming.Chunked:
                _chunks.ConsumedData(taken);
                if (_endsWithHandedOut && taken == _handedOut.Length)
                {
                    _done = true;
                    _handedOut = default;
                    _inner.AdvanceTo(_endAfter);
                    return;
                }
                break;
        }
        _handedOut = default;
        _inner.AdvanceTo(consumed, examined);
    }

    public override void CancelPendingRead() => _inner.CancelPendingRead();

    /// <summary>The body's reader is done with it; the connection's reader stays open.</summary>
    public override void Complete(Exception? exception = null)
    {
    }

    private static IOException Truncated() => new("the connection ended before the body did");
}
