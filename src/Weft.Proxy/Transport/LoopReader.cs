using System.Buffers;
using System.IO.Pipelines;
using System.Threading.Tasks.Sources;

namespace Weft.Proxy.Transport;

/// <summary>
/// The receive side of a <see cref="LoopConnection"/>: a PipeReader straight over the socket, with one
/// pooled buffer taken only while it holds bytes (an idle keep-alive connection holds none). A read
/// calls recv only when the socket may have data: after an edge from the loop, and until a receive
/// comes back short (the kernel had no more) or with EAGAIN. Waiting costs no system call at all.
/// </summary>
internal sealed class LoopReader(LoopConnection connection) : PipeReader, IValueTaskSource<ReadResult>
{
    private const int MinimumFree = 2048;
    private const int InitialSize = 4096;
    private const int MaximumSize = 4 * 1024 * 1024;

    private readonly Lock _gate = new();
    private ManualResetValueTaskSourceCore<ReadResult> _core;      // RunContinuationsAsynchronously false: resume inline
    private byte[]? _buffer;
    private int _start, _end, _examined;
    private bool _readable = true;     // may have data: set by the loop's edge, cleared by a short read or EAGAIN
    private int _edges;                // edges seen: a receive that raced with one must not clear _readable
    private bool _hangup;
    private bool _waiting;
    private bool _cancelNext;
    private bool _eof;
    private Exception? _error;
    private bool _completed;
    private bool _loopFilling;         // the loop is receiving for a parked read (the buffer is in use there)
    private CancellationTokenRegistration _registration;
    private CancellationToken _readToken;

    /// <summary>
    /// From the loop: the socket became readable; <paramref name="hangup"/> when the peer's FIN (or an
    /// error) came with it, <paramref name="failed"/> when it was a reset or a close both ways.
    /// </summary>
    public void OnReadable(bool hangup, bool failed)
    {
        var parked = false;
        lock (_gate)
        {
            _readable = true;
            // A FIN queued behind the last bytes raises no edge of its own: after a hang-up a short read
            // no longer means drained, the next recv returns the end.
            _hangup |= hangup;
            _edges++;
            if (!_waiting)
            {
                // Bytes received but not consumed yet (a pipelined request) come before a FIN.
                if (!hangup || _eof || (!failed && _end > _start))
                    return;
            }
            else
            {
                _waiting = false;
                _loopFilling = true;
                parked = true;
            }
        }
        if (!parked)
        {
            // Nobody reads now (a request is with its upstream): a client that left must still be heard
            // at once, or its upstream work runs on for nobody. A reset is; a FIN is when nothing is left
            // unread before it (a peek, as nginx does), else the reader meets it after those bytes.
            if (failed || connection.PeerEnded())
                connection.OnPeerClosed();
            return;
        }
        try
        {
            FillForWaiter();
        }
        finally
        {
            ReturnBufferIfCompleted(fromLoop: true);
        }
    }

    /// <summary>On the loop: receives for the parked read and completes it (or parks it again when nothing came).</summary>
    private void FillForWaiter()
    {
        while (true)
        {
            var result = Fill();
            if (_end > _examined || result.IsCompleted)
            {
                Finish(result);
                return;
            }
            lock (_gate)
            {
                // Nothing new after all (an edge with no bytes): stay parked, unless a cancel or another edge came meanwhile.
                if (_cancelNext)
                {
                    _cancelNext = false;
                }
                else if (!_readable)
                {
                    _waiting = !_completed;
                    return;
                }
                else
                {
                    continue;
                }
            }
            Finish(Result(canceled: true));
            return;
        }
    }

    /// <summary>The connection was aborted or closed: a waiting read ends.</summary>
    public void OnClosed(Exception? error)
    {
        lock (_gate)
        {
            _eof = true;
            _error ??= error;
            if (!_waiting)
                return;
            _waiting = false;
        }
        Finish(Result(canceled: false));
    }

    public override bool TryRead(out ReadResult result)
    {
        ThrowIfCompleted();
        lock (_gate)
        {
            if (_cancelNext)
            {
                _cancelNext = false;
                result = Result(canceled: true);
                return true;
            }
        }
        // Bytes the kernel holds count too (an idle pooled connection is checked this way before reuse):
        // when the socket may have data, receive it now rather than report nothing.
        if (_end <= _examined && !_eof && Volatile.Read(ref _readable))
            Fill();
        if (_end > _examined || _eof)
        {
            result = Result(canceled: false);
            if (Failure(result) is { } error)
                throw error;
            return true;
        }
        result = default;
        return false;
    }

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfCompleted();
        if (cancellationToken.IsCancellationRequested)
            return ValueTask.FromCanceled<ReadResult>(cancellationToken);
        while (true)
        {
            lock (_gate)
            {
                if (_cancelNext)
                {
                    _cancelNext = false;
                    return new ValueTask<ReadResult>(Result(canceled: true));
                }
                if (_end > _examined || _eof)
                    return Sync(Result(canceled: false));
                if (!_readable)
                {
                    // Park: the loop's next edge (or a cancel) completes this read.
                    _waiting = true;
                    _core.Reset();
                    if (cancellationToken.CanBeCanceled)
                    {
                        _readToken = cancellationToken;
                        _registration = cancellationToken.UnsafeRegister(static s => ((LoopReader)s!).CancelFromToken(), this);
                    }
                    return new ValueTask<ReadResult>(this, _core.Version);
                }
            }
            var filled = Fill();
            if (_end > _examined || filled.IsCompleted)
                return Sync(filled);
        }
    }

    /// <summary>One recv into free space (none when the socket is known drained); the result to hand out.</summary>
    private ReadResult Fill()
    {
        if (!_eof && Volatile.Read(ref _readable))
        {
            if (!EnsureFree())
            {
                // A consumer that holds 4 MB without consuming it is broken or attacked: fail this
                // connection's reads (this may run on the loop thread, which must never throw).
                lock (_gate)
                {
                    _eof = true;
                    _error ??= new IOException("over 4 MB arrived that the reader neither consumed nor released");
                }
                connection.OnPeerClosed();
                return Result(canceled: false);
            }
            var free = _buffer!.Length - _end;
            var edges = Volatile.Read(ref _edges);
            var n = connection.Receive(_buffer.AsSpan(_end, free), out var errno);
            lock (_gate)
            {
                if (n > 0)
                {
                    _end += (int)n;
                    if (n < free && edges == _edges && !_hangup)
                        _readable = false;                   // short: the kernel had no more (the next arrival is a new edge)
                }
                else if (n == 0)
                {
                    _eof = true;
                }
                else if (errno == Native.EAGAIN)
                {
                    if (edges == _edges)
                        _readable = false;
                }
                else
                {
                    _eof = true;
                    _error ??= errno == Native.ECONNRESET
                        ? new Microsoft.AspNetCore.Connections.ConnectionResetException("the peer reset the connection")
                        : new IOException($"recv failed: errno {errno}");
                }
            }
            // The peer's FIN or reset, met by a reader, is heard by ConnectionClosed's watchers too (a
            // client that ends its body short has left), as on Kestrel's transport; the connection
            // itself still half-closes: it ends when both sides are done.
            if (_eof)
                connection.OnPeerClosed();
        }
        return Result(canceled: false);
    }

    /// <summary>Makes room for a receive: false when the buffer is at its limit and full.</summary>
    private bool EnsureFree()
    {
        if (_buffer is null)
        {
            _buffer = ArrayPool<byte>.Shared.Rent(InitialSize);
            _start = _end = _examined = 0;
            return true;
        }
        if (_buffer.Length - _end >= MinimumFree)
            return true;
        var length = _end - _start;
        if (_start > 0 && _buffer.Length - length >= MinimumFree)
        {
            _buffer.AsSpan(_start, length).CopyTo(_buffer);
        }
        else
        {
            if (_buffer.Length >= MaximumSize)
                return false;
            var bigger = ArrayPool<byte>.Shared.Rent(_buffer.Length * 2);
            _buffer.AsSpan(_start, length).CopyTo(bigger);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = bigger;
        }
        _examined -= _start;
        _end = length;
        _start = 0;
        return true;
    }

    private ReadResult Result(bool canceled)
    {
        var buffer = _buffer is null ? ReadOnlySequence<byte>.Empty : new ReadOnlySequence<byte>(_buffer, _start, _end - _start);
        return new ReadResult(buffer, canceled, _eof);
    }

    /// <summary>A failed socket with nothing left to read throws from the read, as a pipe completed with an error does.</summary>
    private Exception? Failure(in ReadResult result) =>
        _error is not null && result.IsCompleted && !result.IsCanceled && result.Buffer.IsEmpty ? _error : null;

    private ValueTask<ReadResult> Sync(ReadResult result) =>
        Failure(result) is { } error ? ValueTask.FromException<ReadResult>(error) : new ValueTask<ReadResult>(result);

    private void Finish(ReadResult result)
    {
        _registration.Unregister();
        _registration = default;
        if (Failure(result) is { } error)
            _core.SetException(error);
        else
            _core.SetResult(result);
    }

    public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        if (_buffer is null)
            return;
        var c = consumed.GetObject() is null ? _start : consumed.GetInteger() & int.MaxValue;
        var e = examined.GetObject() is null ? c : examined.GetInteger() & int.MaxValue;
        if (c < _start || c > _end || e < c || e > _end)
            throw new InvalidOperationException("AdvanceTo: a position outside the last buffer read");
        _start = c;
        _examined = e;
        if (_start == _end)
        {
            // Nothing held: give the buffer back until bytes arrive again.
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = null;
            _start = _end = _examined = 0;
        }
    }

    /// <summary>The read's own token fired: the read throws, as a pipe's does (CancelPendingRead instead returns IsCanceled).</summary>
    private void CancelFromToken()
    {
        lock (_gate)
        {
            if (!_waiting)
                return;
            _waiting = false;
        }
        var token = _readToken;
        _readToken = default;
        _registration = default;
        _core.SetException(new OperationCanceledException(token));
    }

    public override void CancelPendingRead()
    {
        lock (_gate)
        {
            if (!_waiting)
            {
                _cancelNext = true;
                return;
            }
            _waiting = false;
        }
        Finish(Result(canceled: true));
    }

    public override void Complete(Exception? exception = null)
    {
        lock (_gate)
        {
            if (_completed)
                return;
            _completed = true;
            _waiting = false;     // a read left parked is abandoned: no edge completes it now
        }
        ReturnBufferIfCompleted(fromLoop: false);
        connection.OnReaderCompleted();
    }

    /// <summary>
    /// Gives the buffer back once the reader is complete, unless the loop is receiving into it this
    /// moment (a reader completed from another thread while its read was parked): then the loop does.
    /// </summary>
    private void ReturnBufferIfCompleted(bool fromLoop)
    {
        byte[]? buffer;
        lock (_gate)
        {
            if (fromLoop)
                _loopFilling = false;
            if (!_completed || _loopFilling || _buffer is null)
                return;
            buffer = _buffer;
            _buffer = null;
        }
        ArrayPool<byte>.Shared.Return(buffer);
    }

    private void ThrowIfCompleted()
    {
        if (_completed)
            throw new InvalidOperationException("the reader was completed");
    }

    ReadResult IValueTaskSource<ReadResult>.GetResult(short token) => _core.GetResult(token);
    ValueTaskSourceStatus IValueTaskSource<ReadResult>.GetStatus(short token) => _core.GetStatus(token);
    void IValueTaskSource<ReadResult>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
