using System.Buffers;
using System.Threading.Tasks.Sources;
using Weft.Proxy.Transport;
using Weft.Proxy.Pipeline;

namespace Weft.Proxy.Codecs.Http2;

/// <summary>
/// A stream's outgoing body (a response on the server side, a request on the client side) as the
/// pipeline's body pump writes it: DATA frames sent at once while the peer's stream and connection
/// windows allow, the rest kept in order until a WINDOW_UPDATE opens them. The pump's flush waits only
/// while bytes are kept (a reader that stops reading stops the pump: backpressure end to end) or the
/// socket is congested. The end (END_STREAM, on an empty DATA or on trailers) goes out after every kept byte.
/// </summary>
internal sealed class StreamOutput : IBodySink, IValueTaskSource<bool>, IFlushWaiter
{
    /// <summary>Told (outside any lock) once END_STREAM went out: the stream's sending side is closed.</summary>
    public interface IOwner
    {
        void OnOutputEnded();
    }

    private readonly Http2Output _output;
    private readonly IOwner _owner;
    private ManualResetValueTaskSourceCore<bool> _core;
    private int _streamId;
    private int _window;
    private byte[]? _kept;
    private int _keptStart, _keptEnd;
    private bool _waiting;
    private bool _ending;              // the end was asked for while bytes were kept
    private byte[]? _endTrailers;      // encoded trailers to end with, when kept
    private int _endTrailersLength;
    private bool _ended;
    private bool _aborted;
    private byte[]? _record;           // what was written, while a record is asked for (see RecordWrites)
    private int _recordLength;
    private int _recordLimit;          // 0: not recording; -1: it outgrew its limit

    public StreamOutput(Http2Output output, IOwner owner)
    {
        _output = output;
        _owner = owner;
        _core.RunContinuationsAsynchronously = false;
    }

    public void Start(int streamId)
    {
        _streamId = streamId;
        lock (_output.Gate)
        {
            _window = _output.PeerInitialWindow;
            _keptStart = _keptEnd = 0;
            _ending = _ended = _aborted = false;
            _endTrailers = null;
            StopRecordLocked();
        }
    }

    /// <summary>
    /// Keeps a copy of what is written from now on, up to <paramref name="limit"/> bytes: a request body
    /// sent on a stream the peer then refuses (it never reached an app) can go again on another stream.
    /// </summary>
    public void RecordWrites(int limit)
    {
        lock (_output.Gate)
        {
            StopRecordLocked();
            _recordLimit = limit;
        }
    }

    /// <summary>What was written since <see cref="RecordWrites"/> (a copy), or false when it outgrew the limit.</summary>
    public bool TryTakeRecord(out byte[] written)
    {
        lock (_output.Gate)
        {
            written = _recordLimit < 0 ? [] : (_record?.AsSpan(0, _recordLength).ToArray() ?? []);
            var kept = _recordLimit >= 0;
            StopRecordLocked();
            return kept;
        }
    }

    /// <summary>No more record: the peer answered, so it processed the stream.</summary>
    public void StopRecording()
    {
        lock (_output.Gate)
            StopRecordLocked();
    }

    private void RecordLocked(ReadOnlySpan<byte> data)
    {
        if (_recordLength + data.Length > _recordLimit)
        {
            if (_record is not null)
                BufferPool.Shared.Return(_record);
            _record = null;
            _recordLimit = -1;
            return;
        }
        if (_record is null || _record.Length - _recordLength < data.Length)
        {
            var bigger = BufferPool.Shared.Rent(Math.Max(256, _recordLength + data.Length));
            if (_record is not null)
            {
                _record.AsSpan(0, _recordLength).CopyTo(bigger);
                BufferPool.Shared.Return(_record);
            }
            _record = bigger;
        }
        data.CopyTo(_record.AsSpan(_recordLength));
        _recordLength += data.Length;
    }

    private void StopRecordLocked()
    {
        if (_record is not null)
            BufferPool.Shared.Return(_record);
        _record = null;
        _recordLength = 0;
        _recordLimit = 0;
    }

    /// <summary>END_STREAM went out (or the stream was reset): nothing more may be written.</summary>
    public bool Ended => _ended;

    /// <summary>The peer changed SETTINGS_INITIAL_WINDOW_SIZE: every open stream's window moves by the difference (under the output's lock).</summary>
    public bool AdjustWindowLocked(int delta)
    {
        var next = (long)_window + delta;
        if (next > Http2Protocol.MaxWindow)
            return false;
        _window = (int)next;
        return true;
    }

    /// <summary>WINDOW_UPDATE for this stream; false when it overflows 2^31-1 (a stream error FLOW_CONTROL_ERROR).</summary>
    public bool AddWindow(int increment)
    {
        lock (_output.Gate)
        {
            var next = (long)_window + increment;
            if (next > Http2Protocol.MaxWindow)
                return false;
            _window = (int)next;
        }
        OnWindowOpened();
        return true;
    }

    public void Write(in ReadOnlySequence<byte> data)
    {
        lock (_output.Gate)
        {
            // Recorded even once the stream is gone: the bytes were taken from the client all the same.
            if (_recordLimit > 0)
            {
                foreach (var segment in data)
                    RecordLocked(segment.Span);
            }
            if (_ended || _aborted)
                return;
            foreach (var segment in data)
                WriteLocked(segment.Span);
        }
    }

    public void Write(ReadOnlySpan<byte> data)
    {
        lock (_output.Gate)
        {
            if (_recordLimit > 0)
                RecordLocked(data);
            if (_ended || _aborted)
                return;
            WriteLocked(data);
        }
    }

    private void WriteLocked(ReadOnlySpan<byte> data)
    {
        if (_keptEnd == _keptStart)
        {
            var take = Math.Min(data.Length, Math.Min(_window, _output.ConnectionWindow));
            if (take > 0)
            {
                _output.WriteDataLocked(_streamId, data[..take], endStream: false);
                _window -= take;
                _output.ConnectionWindow -= take;
                data = data[take..];
            }
        }
        if (!data.IsEmpty)
            Keep(data);
    }

    private void Keep(ReadOnlySpan<byte> data)
    {
        if (_kept is null || _kept.Length - _keptEnd < data.Length)
        {
            var length = _keptEnd - _keptStart;
            var target = _kept is not null && _kept.Length >= length + data.Length ? _kept : BufferPool.Shared.Rent(Math.Max(4096, length + data.Length));
            if (_kept is not null)
            {
                _kept.AsSpan(_keptStart, length).CopyTo(target);
                if (!ReferenceEquals(target, _kept))
                    BufferPool.Shared.Return(_kept);
            }
            _kept = target;
            _keptStart = 0;
            _keptEnd = length;
        }
        if (_keptEnd == _keptStart)
            Interlocked.Increment(ref _output.BlockedStreams);
        data.CopyTo(_kept.AsSpan(_keptEnd));
        _keptEnd += data.Length;
        if (_output.ConnectionWindow <= 0)
            _output.BlockOnConnectionLocked(this);
    }

    /// <summary>Under the lock: sends kept bytes as far as the windows allow; true when none is left.</summary>
    private bool SendKeptLocked()
    {
        var length = _keptEnd - _keptStart;
        if (length == 0)
            return true;
        var take = Math.Min(length, Math.Min(_window, _output.ConnectionWindow));
        if (take > 0)
        {
            _output.WriteDataLocked(_streamId, _kept.AsSpan(_keptStart, take), endStream: false);
            _window -= take;
            _output.ConnectionWindow -= take;
            _keptStart += take;
        }
        if (_keptStart < _keptEnd)
        {
            if (_output.ConnectionWindow <= 0)
                _output.BlockOnConnectionLocked(this);
            return false;
        }
        _keptStart = _keptEnd = 0;
        Interlocked.Decrement(ref _output.BlockedStreams);
        BlockedSince = 0;
        if (_kept is not null)
        {
            BufferPool.Shared.Return(_kept);
            _kept = null;
        }
        return true;
    }

    /// <summary>Whether bytes wait for the peer's window now.</summary>
    public bool Blocked
    {
        get
        {
            lock (_output.Gate)
                return _keptEnd != _keptStart;
        }
    }

    /// <summary>When the heartbeat first saw it blocked (0: not blocked).</summary>
    public long BlockedSince;

    /// <summary>A window opened (or the stream or connection ended): kept bytes go, then the end, then a waiting flush resumes.</summary>
    public void OnWindowOpened()
    {
        bool resume;
        bool ok;
        var ended = false;
        lock (_output.Gate)
        {
            if (!_aborted && !_output.Failed)
            {
                if (SendKeptLocked() && _ending && !_ended)
                {
                    WriteEndLocked();
                    ended = true;
                }
            }
            ok = !_aborted && !_output.Failed;
            resume = _waiting && (_keptEnd == _keptStart || !ok);
            if (resume)
                _waiting = false;
        }
        _output.Flush();
        if (ended)
            _owner.OnOutputEnded();
        if (resume)
            _core.SetResult(ok);
    }

    /// <summary>Sends what was written; waits while bytes are kept for a window or the socket is congested. False when the stream or connection is gone.</summary>
    public ValueTask<bool> FlushAsync()
    {
        var wait = false;
        lock (_output.Gate)
        {
            if (_aborted || _output.Failed)
                return new ValueTask<bool>(false);
            if (_keptEnd != _keptStart)
            {
                // What the windows let through leaves now; the rest waits for credit.
                _waiting = wait = true;
                _core.Reset();
            }
        }
        if (wait)
        {
            _output.Flush();
            return new ValueTask<bool>(this, _core.Version);
        }
        if (_output.Flush(this))
            return new ValueTask<bool>(!_output.Failed);
        lock (_output.Gate)
        {
            _waiting = true;
            _core.Reset();
            return new ValueTask<bool>(this, _core.Version);
        }
    }

    void IFlushWaiter.OnFlushed(bool ok)
    {
        lock (_output.Gate)
        {
            if (!_waiting)
                return;
            _waiting = false;
        }
        _core.SetResult(ok && !_aborted);
    }

    /// <summary>The pump's end of the body: nothing here, END_STREAM goes with <see cref="End"/> once the trailers are known.</summary>
    public void WriteEnd()
    {
    }

    /// <summary>
    /// Ends the stream: trailers (encoded by <paramref name="trailers"/>) or an empty DATA with END_STREAM,
    /// after every kept byte. Not flushed: the caller flushes.
    /// </summary>
    public void End<T>(ref T trailers, bool hasTrailers) where T : struct, IHeaderBlock
    {
        lock (_output.Gate)
        {
            if (_ended || _aborted || _ending)
                return;
            if (hasTrailers)
            {
                if (_keptEnd == _keptStart)
                {
                    _ended = true;
                    _output.WriteHeadersLocked(_streamId, endStream: true, ref trailers);
                }
                else
                {
                    _endTrailers = new byte[trailers.MaxLength];
                    _endTrailersLength = trailers.Encode(_endTrailers);
                }
            }
            if (!_ended)
            {
                _ending = true;
                if (_keptEnd == _keptStart)
                    WriteEndLocked();
            }
            if (!_ended)
                return;
        }
        _owner.OnOutputEnded();
    }

    private void WriteEndLocked()
    {
        _ended = true;
        _ending = false;
        if (_endTrailers is { } trailers)
        {
            _endTrailers = null;
            var block = new HeaderBlocks.Encoded(trailers, _endTrailersLength);
            _output.WriteHeadersLocked(_streamId, endStream: true, ref block);
        }
        else
        {
            _output.WriteDataLocked(_streamId, [], endStream: true);
        }
    }

    /// <summary>END_STREAM went out with the head (a request without a body): nothing more is sent.</summary>
    public void EndQuietly()
    {
        lock (_output.Gate)
            _ended = true;
    }

    /// <summary>Whether the end is still waiting for a window.</summary>
    public bool EndPending
    {
        get
        {
            lock (_output.Gate)
                return _ending && !_ended;
        }
    }

    /// <summary>The stream was reset (either side) or the connection is gone: kept bytes are dropped, a waiting flush gets false.</summary>
    public void Abort()
    {
        bool resume;
        lock (_output.Gate)
        {
            _aborted = true;
            _ending = false;
            _output.UnblockLocked(this);
            if (_keptEnd != _keptStart)
                Interlocked.Decrement(ref _output.BlockedStreams);
            BlockedSince = 0;
            _keptStart = _keptEnd = 0;
            if (_kept is not null)
            {
                BufferPool.Shared.Return(_kept);
                _kept = null;
            }
            resume = _waiting;
            _waiting = false;
        }
        if (resume)
            _core.SetResult(false);
    }

    bool IValueTaskSource<bool>.GetResult(short token) => _core.GetResult(token);
    ValueTaskSourceStatus IValueTaskSource<bool>.GetStatus(short token) => _core.GetStatus(token);
    void IValueTaskSource<bool>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
