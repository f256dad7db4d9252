using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;

namespace Weft.Proxy.Codecs.Http2;

/// <summary>A header block to be framed: its largest encoded size, and the encoding itself.</summary>
internal interface IHeaderBlock
{
    int MaxLength { get; }

    /// <summary>Encodes the block into <paramref name="destination"/> (at least <see cref="MaxLength"/> bytes); returns its length.</summary>
    int Encode(Span<byte> destination);
}

/// <summary>Told when a flush it waited for is done (true) or the connection failed (false).</summary>
internal interface IFlushWaiter
{
    void OnFlushed(bool ok);
}

/// <summary>
/// The send side of one HTTP/2 connection, shared by every stream on it whatever thread a stream's
/// answer arrives on: frames are written under one lock (a header block and its CONTINUATIONs stay
/// together), and flushes are serialized (one flush at a time; a flush asked for meanwhile rides on the
/// next). A stream waits only when the peer's window is closed (<see cref="StreamOutput"/>) or when
/// more than <see cref="HighWater"/> bytes wait behind a socket that takes nothing: a client that grants
/// windows but does not read cannot make the proxy buffer without bound.
/// It also keeps the peer's connection window for DATA, and the peer's settings that shape sending.
/// </summary>
internal sealed class Http2Output
{
    /// <summary>Bytes written behind a flush that has not completed, past which writers wait.</summary>
    public const int HighWater = 256 * 1024;

    private readonly PipeWriter _writer;
    private readonly Lock _gate = new();
    private readonly Queue<IFlushWaiter> _waiters = new();
    private Memory<byte> _memory;          // reserved in the writer, not yet advanced
    private int _memoryUsed;
    private readonly List<StreamOutput> _blocked = [];
    private readonly Action _onFlushed;
    private ConfiguredValueTaskAwaitable<FlushResult>.ConfiguredValueTaskAwaiter _pending;
    private bool _flushing;
    private bool _again;
    private bool _failed;
    private bool _closed;
    private int _written;          // bytes written since the flush in progress began

    public Http2Output(PipeWriter writer)
    {
        _writer = writer;
        _onFlushed = OnFlushCompleted;
    }

    public Lock Gate => _gate;

    /// <summary>The peer's connection window for our DATA (under the lock).</summary>
    public int ConnectionWindow = Http2Protocol.DefaultWindow;

    /// <summary>The peer's SETTINGS_INITIAL_WINDOW_SIZE: each new stream's window.</summary>
    public int PeerInitialWindow = Http2Protocol.DefaultWindow;

    /// <summary>The peer's SETTINGS_MAX_FRAME_SIZE: the largest frame we may send.</summary>
    public int PeerMaxFrame = Http2Protocol.DefaultMaxFrame;

    /// <summary>More than <see cref="HighWater"/> bytes wait behind a flush the socket has not taken: the peer does not read.</summary>
    public bool Congested
    {
        get
        {
            lock (_gate)
                return _flushing && _written > HighWater;
        }
    }

    /// <summary>Streams keeping bytes for a window now (the heartbeat looks at them only when there are some).</summary>
    public int BlockedStreams;

    /// <summary>The connection failed or closed: nothing more goes out.</summary>
    public bool Failed => Volatile.Read(ref _failed);

    // ------------------------------------------------------------------ frames (callers hold the lock)

    public void WriteHeadersLocked<T>(int streamId, bool endStream, ref T block) where T : struct, IHeaderBlock
    {
        if (_closed)
            return;
        var max = block.MaxLength;
        var maxFrame = PeerMaxFrame;
        if (max <= maxFrame)
        {
            var span = Reserve(FrameHeader.Size + max);
            var length = block.Encode(span[FrameHeader.Size..]);
            FrameHeader.Write(span, length, FrameType.Headers, (byte)(FrameFlags.EndHeaders | (endStream ? FrameFlags.EndStream : 0)), streamId);
            Advance(FrameHeader.Size + length);
            return;
        }
        WriteSplitHeaders(streamId, endStream, ref block, maxFrame);
    }

    /// <summary>A block larger than one frame: HEADERS then CONTINUATIONs (cold).</summary>
    private void WriteSplitHeaders<T>(int streamId, bool endStream, ref T block, int maxFrame) where T : struct, IHeaderBlock
    {
        var scratch = ArrayPool<byte>.Shared.Rent(block.MaxLength);
        try
        {
            var length = block.Encode(scratch);
            var offset = 0;
            var type = FrameType.Headers;
            do
            {
                var take = Math.Min(maxFrame, length - offset);
                var last = offset + take == length;
                byte flags = 0;
                if (last)
                    flags |= FrameFlags.EndHeaders;
                if (type == FrameType.Headers && endStream)
                    flags |= FrameFlags.EndStream;
                var span = Reserve(FrameHeader.Size + take);
                FrameHeader.Write(span, take, type, flags, streamId);
                scratch.AsSpan(offset, take).CopyTo(span[FrameHeader.Size..]);
                Advance(FrameHeader.Size + take);
                offset += take;
                type = FrameType.Continuation;
            }
            while (offset < length);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    /// <summary>DATA frames of at most the peer's frame size; the caller checked the windows.</summary>
    public void WriteDataLocked(int streamId, ReadOnlySpan<byte> data, bool endStream)
    {
        if (_closed)
            return;
        var maxFrame = PeerMaxFrame;
        do
        {
            var take = Math.Min(maxFrame, data.Length);
            var last = take == data.Length;
            var span = Reserve(FrameHeader.Size + take);
            FrameHeader.Write(span, take, FrameType.Data, last && endStream ? FrameFlags.EndStream : (byte)0, streamId);
            data[..take].CopyTo(span[FrameHeader.Size..]);
            Advance(FrameHeader.Size + take);
            data = data[take..];
        }
        while (!data.IsEmpty);
    }

    public void WriteRstStreamLocked(int streamId, Http2Error error) => WriteWordFrameLocked(FrameType.RstStream, streamId, (uint)error);

    public void WriteWindowUpdateLocked(int streamId, int increment) => WriteWordFrameLocked(FrameType.WindowUpdate, streamId, (uint)increment);

    /// <summary>A frame whose payload is one 32-bit word (RST_STREAM, WINDOW_UPDATE).</summary>
    private void WriteWordFrameLocked(FrameType type, int streamId, uint word)
    {
        if (_closed)
            return;
        var span = Reserve(FrameHeader.Size + 4);
        FrameHeader.Write(span, 4, type, 0, streamId);
        BinaryPrimitives.WriteUInt32BigEndian(span[FrameHeader.Size..], word);
        Advance(FrameHeader.Size + 4);
    }

    public void WritePingLocked(bool ack, ReadOnlySpan<byte> payload)
    {
        if (_closed)
            return;
        var span = Reserve(FrameHeader.Size + 8);
        FrameHeader.Write(span, 8, FrameType.Ping, ack ? FrameFlags.Ack : (byte)0, 0);
        payload[..8].CopyTo(span[FrameHeader.Size..]);
        Advance(FrameHeader.Size + 8);
    }

    public void WriteGoAwayLocked(int lastStreamId, Http2Error error)
    {
        if (_closed)
            return;
        var span = Reserve(FrameHeader.Size + 8);
        FrameHeader.Write(span, 8, FrameType.GoAway, 0, 0);
        BinaryPrimitives.WriteUInt32BigEndian(span[FrameHeader.Size..], (uint)lastStreamId & 0x7FFFFFFF);
        BinaryPrimitives.WriteUInt32BigEndian(span[(FrameHeader.Size + 4)..], (uint)error);
        Advance(FrameHeader.Size + 8);
    }

    /// <summary>SETTINGS with the given (id, value) pairs, or an ACK when <paramref name="settings"/> is empty and <paramref name="ack"/>.</summary>
    public void WriteSettingsLocked(ReadOnlySpan<(SettingId Id, uint Value)> settings, bool ack)
    {
        if (_closed)
            return;
        var length = settings.Length * 6;
        var span = Reserve(FrameHeader.Size + length);
        FrameHeader.Write(span, length, FrameType.Settings, ack ? FrameFlags.Ack : (byte)0, 0);
        var at = FrameHeader.Size;
        foreach (var (id, value) in settings)
        {
            BinaryPrimitives.WriteUInt16BigEndian(span[at..], (ushort)id);
            BinaryPrimitives.WriteUInt32BigEndian(span[(at + 2)..], value);
            at += 6;
        }
        Advance(at);
    }

    /// <summary>Raw bytes (the client's preface).</summary>
    public void WriteRawLocked(ReadOnlySpan<byte> bytes)
    {
        if (_closed)
            return;
        var span = Reserve(bytes.Length);
        bytes.CopyTo(span);
        Advance(bytes.Length);
    }

    /// <summary>
    /// Room for a frame in the writer's buffer. Frames written between two flushes share one GetMemory
    /// and one Advance: each of those takes the writer's lock, and a request's frames (HEADERS, DATA,
    /// END_STREAM, WINDOW_UPDATEs) took a dozen of them.
    /// </summary>
    private Span<byte> Reserve(int size)
    {
        if (_memory.Length - _memoryUsed < size)
        {
            CommitLocked();
            _memory = _writer.GetMemory(size);
        }
        return _memory.Span.Slice(_memoryUsed);
    }

    private void Advance(int bytes)
    {
        _memoryUsed += bytes;
        _written += bytes;
    }

    /// <summary>Hands what the frames took of the reserved memory to the writer (before it flushes).</summary>
    private void CommitLocked()
    {
        if (_memoryUsed > 0)
            _writer.Advance(_memoryUsed);
        _memory = default;
        _memoryUsed = 0;
    }

    /// <summary>No frame is written from now on (what was written still goes out).</summary>
    public void CloseWritesLocked() => _closed = true;

    // ------------------------------------------------------------------ send windows (callers hold the lock)

    /// <summary>A stream whose DATA waits for the connection window; told when it opens.</summary>
    public void BlockOnConnectionLocked(StreamOutput stream)
    {
        if (!_blocked.Contains(stream))
            _blocked.Add(stream);
    }

    public void UnblockLocked(StreamOutput stream) => _blocked.Remove(stream);

    /// <summary>The peer opened the connection window: waiting streams send what they can (on the reader's thread).</summary>
    public void OnConnectionWindowOpened()
    {
        StreamOutput[]? ready = null;
        int count;
        lock (_gate)
        {
            count = _blocked.Count;
            if (count == 0)
                return;
            ready = ArrayPool<StreamOutput>.Shared.Rent(count);
            _blocked.CopyTo(ready);
            _blocked.Clear();
        }
        for (var i = 0; i < count; i++)
        {
            ready[i].OnWindowOpened();
            ready[i] = null!;
        }
        ArrayPool<StreamOutput>.Shared.Return(ready);
    }

    // ------------------------------------------------------------------ flushing

    /// <summary>
    /// Sends what was written. Never waits for the socket unless <paramref name="waiter"/> is given and
    /// more than <see cref="HighWater"/> bytes are already waiting behind it: then false is returned and
    /// the waiter is told when they left (or the connection failed).
    /// </summary>
    public bool Flush(IFlushWaiter? waiter = null)
    {
        lock (_gate)
        {
            if (_failed)
                return true;         // nothing to wait for: the caller's next write finds the failure
            if (_flushing)
            {
                _again = true;
                if (waiter is null || _written <= HighWater)
                    return true;
                _waiters.Enqueue(waiter);
                return false;
            }
            _flushing = true;
            StartFlushLocked();
        }
        return true;
    }

    /// <summary>Under the lock: one flush of the writer; its completion (now or later) settles the rest.</summary>
    private void StartFlushLocked()
    {
        while (true)
        {
            _again = false;
            _written = 0;
            ValueTask<FlushResult> flush;
            try
            {
                CommitLocked();
                flush = _writer.FlushAsync();
            }
            catch (Exception ex) when (ex is InvalidOperationException or IOException or ObjectDisposedException)
            {
                FailLocked();
                return;
            }
            if (!flush.IsCompleted)
            {
                _pending = flush.ConfigureAwait(false).GetAwaiter();
                _pending.UnsafeOnCompleted(_onFlushed);
                return;
            }
            if (!Settled(flush))
                return;
            if (!_again)
            {
                _flushing = false;
                return;
            }
        }
    }

    /// <summary>A completed flush's result; false after the connection failed.</summary>
    private bool Settled(ValueTask<FlushResult> flush)
    {
        try
        {
            var result = flush.GetAwaiter().GetResult();
            if (!result.IsCompleted)
                return true;
        }
        catch (Exception ex) when (ex is InvalidOperationException or IOException or ObjectDisposedException or OperationCanceledException)
        {
        }
        FailLocked();
        return false;
    }

    private void OnFlushCompleted()
    {
        IFlushWaiter[]? waiters = null;
        int count;
        bool ok;
        lock (_gate)
        {
            var completed = true;
            try
            {
                var result = _pending.GetResult();
                completed = result.IsCompleted;
            }
            catch (Exception ex) when (ex is InvalidOperationException or IOException or ObjectDisposedException or OperationCanceledException)
            {
            }
            _pending = default;
            if (completed)
            {
                FailLocked();
            }
            else if (_again)
            {
                StartFlushLocked();
            }
            else
            {
                _flushing = false;
            }
            ok = !_failed;
            // Writers held back wait until what was queued before them has gone.
            count = _flushing && ok ? 0 : _waiters.Count;
            if (count != 0)
            {
                waiters = ArrayPool<IFlushWaiter>.Shared.Rent(count);
                for (var i = 0; i < count; i++)
                    waiters[i] = _waiters.Dequeue();
            }
        }
        if (waiters is null)
            return;
        for (var i = 0; i < count; i++)
        {
            waiters[i].OnFlushed(ok);
            waiters[i] = null!;
        }
        ArrayPool<IFlushWaiter>.Shared.Return(waiters);
    }

    /// <summary>Under the lock: nothing more is sent; blocked streams and waiters are told (by <see cref="Fail"/>'s caller).</summary>
    private void FailLocked()
    {
        _failed = true;
        _flushing = false;
    }

    /// <summary>The connection is gone: waiters and streams blocked on the window are released with a failure.</summary>
    public void Fail()
    {
        IFlushWaiter[] waiters;
        StreamOutput[] blocked;
        lock (_gate)
        {
            _failed = true;
            _closed = true;
            waiters = _waiters.ToArray();
            _waiters.Clear();
            blocked = _blocked.ToArray();
            _blocked.Clear();
        }
        foreach (var w in waiters)
            w.OnFlushed(false);
        foreach (var s in blocked)
            s.OnWindowOpened();
    }
}
