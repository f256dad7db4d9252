using System.Buffers;
using System.IO.Pipelines;
using System.Numerics;
using System.Threading.Tasks.Sources;
using Weft.Proxy.Transport;

namespace Weft.Proxy.Codecs.Http2;

/// <summary>
/// A stream's incoming body (a request on the server side, a response on the client side) as a
/// PipeReader: the connection's reader appends each DATA payload, the pipeline reads. Bytes live in
/// pooled segments that are never moved while a read may see them. What the reader consumes is
/// handed back as flow-control credit (<see cref="IOwner.OnConsumed"/>), so the peer may send as fast
/// as the reader reads, and no faster: a reader that stops holds at most the stream's window here.
/// </summary>
internal sealed class StreamInput : PipeReader, IValueTaskSource<ReadResult>
{
    /// <summary>The connection: credit for consumed bytes goes back to the peer through it.</summary>
    public interface IOwner
    {
        /// <summary><paramref name="bytes"/> consumed (or dropped) by the reader of the stream's body; on the reader's thread.</summary>
        void OnConsumed(StreamInput input, int bytes, bool streamEnded);
    }

    private const int SegmentSize = 16 * 1024;
    private const int MinSegmentSize = 512;

    private readonly IOwner _owner;
    private readonly Lock _gate = new();
    private ManualResetValueTaskSourceCore<ReadResult> _core;
    private Segment? _head, _tail;
    private int _headStart;            // consumed bytes at the head segment's start
    private long _buffered;            // bytes appended and not consumed
    private long _examinedUpTo;        // bytes (from the head) a read has examined: the next read waits for more
    private bool _waiting;
    private bool _cancelNext;
    private bool _ended;
    private Exception? _error;
    private bool _completed;
    private Segment? _spare;

    public StreamInput(IOwner owner)
    {
        _owner = owner;
        _core.RunContinuationsAsynchronously = false;
    }

    /// <summary>The stream this body belongs to (set by its owner).</summary>
    public int StreamId;

    /// <summary>Bytes received in total (for content-length checks).</summary>
    public long Received { get; private set; }

    /// <summary>Whether the reader is done (it completed the reader): later DATA is dropped.</summary>
    public bool ReaderCompleted
    {
        get
        {
            lock (_gate)
                return _completed;
        }
    }

    public void Start(int streamId)
    {
        lock (_gate)
        {
            StreamId = streamId;
            while (_head is not null)
                ReleaseHead();
            _headStart = 0;
            _buffered = 0;
            _examinedUpTo = 0;
            _waiting = _cancelNext = _ended = _completed = false;
            _error = null;
            Received = 0;
        }
    }

    // ------------------------------------------------------------------ the connection's side

    /// <summary>A DATA payload (from the connection's reader). False when the reader is done: the bytes were dropped and are the caller's credit to give back.</summary>
    public bool Append(ReadOnlySpan<byte> data, bool end)
    {
        lock (_gate)
        {
            Received += data.Length;
            if (_completed)
                return false;
            while (!data.IsEmpty)
            {
                if (_tail is null || _tail.Free == 0)
                    AddSegment(data.Length);
                var take = Math.Min(_tail!.Free, data.Length);
                data[..take].CopyTo(_tail.Array.AsSpan(_tail.Length));
                _tail.Length += take;
                _buffered += take;
                data = data[take..];
            }
            _ended |= end;
        }
        Wake();
        return true;
    }

    /// <summary>The stream failed (reset, malformed, the connection went): a read now throws <paramref name="error"/>.</summary>
    public void Fail(Exception error)
    {
        lock (_gate)
        {
            if (_ended && _buffered == 0 && !_waiting)
                return;
            _error ??= error;
        }
        Wake();
    }

    private void Wake()
    {
        ReadResult result;
        Exception? error = null;
        lock (_gate)
        {
            if (!_waiting)
                return;
            if (_error is null && !_ended && !_cancelNext && _buffered <= _examinedUpTo)
                return;
            _waiting = false;
            result = default;
            if (_error is not null)
            {
                error = _error;
                _error = null;
            }
            else
            {
                result = ResultLocked();
            }
        }
        // Outside the gate, a failure as much as a result: the reader's continuation runs inline and
        // may come back to this stream (a pipeline that fails resets it, which fails this input again),
        // or take another stream's gate while another thread holds that one and waits for this one.
        if (error is not null)
            _core.SetException(error);
        else
            _core.SetResult(result);
    }

    private void AddSegment(int needed)
    {
        var segment = _spare ?? new Segment();
        _spare = null;
        // Sized for what arrives: a 2-byte answer does not hold 16 KB while it waits to be read.
        var size = needed >= SegmentSize ? SegmentSize : Math.Max(MinSegmentSize, (int)BitOperations.RoundUpToPowerOf2((uint)needed));
        var array = BufferPool.Shared.Rent(size);
        if (_tail is null)
        {
            segment.Reset(array, 0);
            _head = _tail = segment;
            _headStart = 0;
        }
        else
        {
            // Only a full segment gets a successor: every segment but the tail is read whole.
            segment.Reset(array, _tail.RunningIndex + _tail.Array.Length);
            _tail.SetNext(segment);
            _tail = segment;
        }
    }

    // ------------------------------------------------------------------ the reader's side

    public override bool TryRead(out ReadResult result)
    {
        lock (_gate)
        {
            ThrowIfFailed();
            if (_cancelNext || _buffered > 0 || _ended)
            {
                result = ResultLocked();
                return true;
            }
        }
        result = default;
        return false;
    }

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            ThrowIfFailed();
            if (_cancelNext || _ended || _buffered > _examinedUpTo)
                return new ValueTask<ReadResult>(ResultLocked());
            _waiting = true;
            _core.Reset();
            return new ValueTask<ReadResult>(this, _core.Version);
        }
    }

    private void ThrowIfFailed()
    {
        if (_error is { } error)
        {
            _error = null;
            throw error;
        }
    }

    private ReadResult ResultLocked()
    {
        var canceled = _cancelNext;
        _cancelNext = false;
        var buffer = _buffered == 0 || _head is null
            ? ReadOnlySequence<byte>.Empty
            : new ReadOnlySequence<byte>(_head, _headStart, _tail!, _tail!.Length);
        return new ReadResult(buffer, canceled, _ended && !canceled);
    }

    public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        int released;
        bool ended;
        lock (_gate)
        {
            var before = _buffered;
            if (consumed.GetObject() is Segment at)
            {
                var index = consumed.GetInteger();
                while (_head is not null && !ReferenceEquals(_head, at))
                {
                    _buffered -= _head.Length - _headStart;
                    ReleaseHead();
                }
                if (_head is not null)
                {
                    _buffered -= index - _headStart;
                    _headStart = index;
                    // A segment read to its end goes (the tail only once full: the connection may still append to it).
                    while (_head is not null && _headStart == _head.Length && (!ReferenceEquals(_head, _tail) || _head.Free == 0))
                        ReleaseHead();
                }
            }
            released = (int)(before - _buffered);
            // Examined up to the end: the next read waits for bytes beyond what it saw.
            _examinedUpTo = examined.GetObject() is Segment e && _head is not null
                ? Math.Max(0, e.RunningIndex + examined.GetInteger() - (_head.RunningIndex + _headStart))
                : 0;
            if (_examinedUpTo > _buffered)
                _examinedUpTo = _buffered;
            ended = _ended;
        }
        if (released > 0)
            _owner.OnConsumed(this, released, ended);
    }

    private void ReleaseHead()
    {
        var head = _head!;
        _head = head.NextSegment;
        if (_head is null)
            _tail = null;
        _headStart = 0;
        BufferPool.Shared.Return(head.Array);
        head.Clear();
        _spare ??= head;
    }

    public override void CancelPendingRead()
    {
        lock (_gate)
            _cancelNext = true;
        Wake();
    }

    /// <summary>The reader is done: what it left (and any later DATA) is dropped, its credit given back.</summary>
    public override void Complete(Exception? exception = null)
    {
        long dropped;
        bool ended;
        lock (_gate)
        {
            if (_completed)
                return;
            _completed = true;
            dropped = _buffered;
            while (_head is not null)
                ReleaseHead();
            _buffered = 0;
            ended = _ended;
        }
        if (dropped > 0)
            _owner.OnConsumed(this, (int)dropped, ended);
    }

    ReadResult IValueTaskSource<ReadResult>.GetResult(short token) => _core.GetResult(token);
    ValueTaskSourceStatus IValueTaskSource<ReadResult>.GetStatus(short token) => _core.GetStatus(token);
    void IValueTaskSource<ReadResult>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public byte[] Array = [];
        public int Length;

        public int Free => Array.Length - Length;

        public Segment? NextSegment => (Segment?)Next;

        public void Reset(byte[] array, long runningIndex)
        {
            Array = array;
            Memory = array;
            Length = 0;
            RunningIndex = runningIndex;
            Next = null;
        }

        public void Clear()
        {
            Array = [];
            Memory = default;
            Next = null;
        }

        public void SetNext(Segment next) => Next = next;
    }
}
