using System.Buffers;
using System.IO.Pipelines;
using System.Threading.Tasks.Sources;

namespace Weft.Proxy.Transport;

/// <summary>
/// The send side of a <see cref="LoopConnection"/>: a PipeWriter whose flush is a send() of what was
/// written, from the caller's thread. No pipe and no send loop in between: a flush that the kernel takes
/// whole completes at once; one it cannot take waits for the loop's next writable edge (backpressure).
/// The buffer is pooled and held only while it has unsent bytes.
/// </summary>
internal sealed class LoopWriter(LoopConnection connection) : PipeWriter, IValueTaskSource<FlushResult>
{
    private const int InitialSize = 4096;

    private enum SendState { Done, Pending, Failed }

    private readonly Lock _gate = new();
    private ManualResetValueTaskSourceCore<FlushResult> _core;
    private byte[]? _buffer;
    private int _sent, _length;
    private bool _memoryOut;
    private bool _waiting;
    private bool _cancelNext;
    private bool _failed;
    private bool _completed;
    private bool _shutdownWhenSent;
    private bool _inBatch;      // bytes staged in the loop's SendBatch: only the batch sends meanwhile
    private SendBatch? _batch;  // the batch that holds them
    private bool _backlog;      // the socket was full for a batched send: the next writable edge sends the rest
    private byte[]? _carry;     // what a batched send left unsent, sent before the buffer
    private int _carrySent, _carryLength;
    private CancellationTokenRegistration _registration;
    private CancellationToken _flushToken;

    /// <summary>The connection this writer sends on (the batch ends it when the writer's completion throws).</summary>
    internal LoopConnection Connection => connection;

    public override Memory<byte> GetMemory(int sizeHint = 0)
    {
        lock (_gate)
        {
            EnsureFree(Math.Max(sizeHint, 1));
            _memoryOut = true;
            return _buffer.AsMemory(_length);
        }
    }

    public override Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;

    public override void Advance(int bytes)
    {
        lock (_gate)
        {
            if (_buffer is null || bytes < 0 || _length + bytes > _buffer.Length)
                throw new InvalidOperationException("Advance past the memory handed out");
            _length += bytes;
            _memoryOut = false;
        }
    }

    private void EnsureFree(int needed)
    {
        if (_buffer is null)
        {
            _buffer = BufferPool.Shared.Rent(Math.Max(InitialSize, needed));
            _sent = _length = 0;
            return;
        }
        if (_buffer.Length - _length >= needed)
            return;
        var pending = _length - _sent;
        if (_sent > 0 && _buffer.Length - pending >= needed)
        {
            _buffer.AsSpan(_sent, pending).CopyTo(_buffer);
        }
        else
        {
            var bigger = BufferPool.Shared.Rent(Math.Max(_buffer.Length * 2, pending + needed));
            _buffer.AsSpan(_sent, pending).CopyTo(bigger);
            BufferPool.Shared.Return(_buffer);
            _buffer = bigger;
        }
        _sent = 0;
        _length = pending;
    }

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        if (cancellationToken.IsCancellationRequested)
            return ValueTask.FromCanceled<FlushResult>(cancellationToken);
        lock (_gate)
        {
            if (_cancelNext)
            {
                _cancelNext = false;
                return new ValueTask<FlushResult>(new FlushResult(isCanceled: true, isCompleted: false));
            }
            // While the batch holds this writer, small flushes ride along; a larger backlog waits for
            // the batch to send it, so a copy loop running inline cannot pile a whole body up here.
            if (_inBatch && _length - _sent <= SendBatch.MaxQueued)
            {
                AppendLocked();
                return new ValueTask<FlushResult>(new FlushResult(isCanceled: false, isCompleted: _failed));
            }
            if (!_inBatch && StageLocked())
                return new ValueTask<FlushResult>(new FlushResult(isCanceled: false, isCompleted: false));
            var state = _inBatch ? SendState.Pending : SendLocked();
            if (state != SendState.Pending)
                return new ValueTask<FlushResult>(new FlushResult(isCanceled: false, isCompleted: state == SendState.Failed));
            _waiting = true;
            _core.Reset();
            if (cancellationToken.CanBeCanceled)
            {
                _flushToken = cancellationToken;
                _registration = cancellationToken.UnsafeRegister(static s => ((LoopWriter)s!).CancelFromToken(), this);
            }
            return new ValueTask<FlushResult>(this, _core.Version);
        }
    }

    /// <summary>Sends what is buffered, under the lock. Pending: the kernel's buffer is full until the next writable edge.</summary>
    private SendState SendLocked()
    {
        if (_failed)
        {
            _backlog = false;
            return SendState.Failed;
        }
        if (_carry is not null)
        {
            var carried = SendRange(_carry, ref _carrySent, _carryLength);
            if (carried != SendState.Done)
                return carried;
            BufferPool.Shared.Return(_carry);
            _carry = null;
        }
        var state = SendRange(_buffer, ref _sent, _length);
        if (state != SendState.Done)
            return state;
        _backlog = false;
        ReleaseIfSent();
        return SendState.Done;
    }

    /// <summary>Under the lock: sends bytes[sent..length), advancing sent.</summary>
    private SendState SendRange(byte[]? bytes, ref int sent, int length)
    {
        while (sent < length)
        {
            var n = connection.Send(bytes.AsSpan(sent, length - sent), out var errno);
            if (n > 0)
            {
                sent += (int)n;
                continue;
            }
            // The writable edge that ends a wait is handled under this same lock, after the waiter is
            // parked: it cannot slip in between this EAGAIN and the park.
            if (errno == Native.EAGAIN)
                return SendState.Pending;
            _failed = true;
            _backlog = false;
            return SendState.Failed;
        }
        return SendState.Done;
    }

    /// <summary>Under the lock, once nothing is unsent: the buffer goes back to the pool.</summary>
    private void ReleaseIfSent()
    {
        // Memory handed out (GetMemory before this flush's Advance) stays where it is: the writer's
        // next Advance counts from _length, so the offsets may only restart once nothing is out.
        if (_memoryOut)
            return;
        _sent = _length = 0;
        if (_buffer is not null)
        {
            BufferPool.Shared.Return(_buffer);
            _buffer = null;
        }
    }

    /// <summary>
    /// Under the lock, on a loop's thread: copies the unsent bytes into the loop's <see cref="SendBatch"/>
    /// (which sends them once the loop's current events are handled) and lets the buffer go. False when
    /// they are not for the batch: none, too many, a socket already full, no batch on this thread.
    /// </summary>
    private bool StageLocked()
    {
        var pending = _length - _sent;
        if (_failed || _backlog || _carry is not null || pending is <= 0 or > SendBatch.MaxQueued || SendBatch.Current is not { } batch)
            return false;
        if (!connection.EnterSend(out var fd))
            return false;
        if (!batch.Enqueue(this, fd, _buffer.AsSpan(_sent, pending)))
        {
            connection.ExitSend();
            return false;
        }
        _inBatch = true;
        _batch = batch;
        _sent = _length;
        ReleaseIfSent();
        return true;
    }

    /// <summary>
    /// Under the lock, while the batch holds this writer: this flush joins the staged send when it can
    /// (on the batch's own thread, its send the last queued), so it leaves in the same segment.
    /// </summary>
    private void AppendLocked()
    {
        var pending = _length - _sent;
        if (pending <= 0 || _failed || _carry is not null || _batch is not { } batch || !ReferenceEquals(SendBatch.Current, batch)
            || !batch.TryAppend(this, _buffer.AsSpan(_sent, pending)))
            return;
        _sent = _length;
        ReleaseIfSent();
    }

    /// <summary>From the loop: the socket can take more.</summary>
    public void OnWritable()
    {
        var shutdown = false;
        lock (_gate)
        {
            if (_inBatch || (!_waiting && !_shutdownWhenSent && !_backlog))
                return;
            shutdown = Settle(SendLocked());
        }
        if (shutdown)
            connection.OnWriterCompleted();
        RunPending();
    }

    // A flush completed under the lock resumes its continuation outside it.
    private bool _pendingContinuation;
    private FlushResult _pendingResult;

    /// <summary>Under the lock: records the result; <see cref="RunPending"/> resumes the waiter outside it.</summary>
    private void Finish(FlushResult result)
    {
        _registration.Unregister();
        _registration = default;
        _pendingContinuation = true;
        _pendingResult = result;
    }

    private void RunPending()
    {
        FlushResult result;
        lock (_gate)
        {
            if (!_pendingContinuation)
                return;
            _pendingContinuation = false;
            result = _pendingResult;
        }
        _core.SetResult(result);
    }

    /// <summary>The connection was aborted or closed: sends fail from now on, a waiting flush ends.</summary>
    public void OnClosed()
    {
        lock (_gate)
        {
            _failed = true;
            _shutdownWhenSent = false;
            if (!_waiting)
                return;
            _waiting = false;
            Finish(new FlushResult(isCanceled: false, isCompleted: true));
        }
        RunPending();
    }

    /// <summary>The flush's own token fired: the flush throws, as a pipe's does. Unsent bytes stay buffered.</summary>
    private void CancelFromToken()
    {
        lock (_gate)
        {
            if (!_waiting)
                return;
            _waiting = false;
        }
        var token = _flushToken;
        _flushToken = default;
        _registration = default;
        _core.SetException(new OperationCanceledException(token));
    }

    public override void CancelPendingFlush()
    {
        lock (_gate)
        {
            if (!_waiting)
            {
                _cancelNext = true;
                return;
            }
            _waiting = false;
            Finish(new FlushResult(isCanceled: true, isCompleted: false));
        }
        RunPending();
    }

    /// <summary>What was written still goes out (as a pipe's reader would still see it), then the send side shuts down.</summary>
    public override void Complete(Exception? exception = null)
    {
        bool done;
        lock (_gate)
        {
            if (_completed)
                return;
            _completed = true;
            _memoryOut = false;
            _shutdownWhenSent = true;
            if (_inBatch)
            {
                // The batch sends what it holds, then shuts down (or, failed, just completes).
                _failed |= exception is not null;
                return;
            }
            done = Settle(exception is null ? SendLocked() : SendState.Failed);
        }
        if (done)
            connection.OnWriterCompleted();
        RunPending();
    }

    /// <summary>
    /// From the batch, on the loop's thread: what the kernel made of the staged bytes (a count, or
    /// -errno). What it did not take is kept (the carry) for the socket's next writable edge.
    /// </summary>
    internal void OnStagedSent(int result, ReadOnlySpan<byte> staged)
    {
        connection.ExitSend();
        var shutdown = false;
        lock (_gate)
        {
            _inBatch = false;
            _batch = null;
            if (_failed)
                shutdown = Settle(SendState.Failed);
            else if (result == staged.Length)
            {
                // Bytes written and flushed meanwhile ride the next round, or go now when too many.
                if (!StageLocked())
                    shutdown = Settle(SendLocked());
            }
            else if (result >= 0 || result == -Native.EAGAIN)
            {
                CarryLocked(staged[Math.Max(result, 0)..]);
                _backlog = true;                              // the socket is full: its writable edge sends the rest (a waiting flush waits on with it)
            }
            else
            {
                _failed = true;
                shutdown = Settle(SendState.Failed);
            }
        }
        if (shutdown)
            connection.OnWriterCompleted();
        RunPending();
    }

    /// <summary>
    /// From the batch, on the loop's thread: io_uring did not send the staged bytes (the submission was
    /// refused, or the ring failed the send for a reason of its own): they go now, the ordinary way, as
    /// if the flush had never been queued.
    /// </summary>
    internal void OnStagedRefused(ReadOnlySpan<byte> staged)
    {
        connection.ExitSend();
        var shutdown = false;
        lock (_gate)
        {
            _inBatch = false;
            _batch = null;
            if (!_failed)
                CarryLocked(staged);
            shutdown = Settle(SendLocked());
        }
        if (shutdown)
            connection.OnWriterCompleted();
        RunPending();
    }

    /// <summary>Under the lock: keeps bytes the batch did not send, to go before the buffer.</summary>
    private void CarryLocked(ReadOnlySpan<byte> rest)
    {
        _carry = BufferPool.Shared.Rent(rest.Length);
        rest.CopyTo(_carry);
        _carrySent = 0;
        _carryLength = rest.Length;
    }

    /// <summary>
    /// Under the lock, after a send made outside a flush (the batch's, a writable edge's, the last one
    /// at Complete): a socket still full leaves the rest (and any waiting flush) to its writable edge;
    /// otherwise a waiting flush completes, and a completed writer lets its buffer go and shuts down
    /// (true: the caller calls OnWriterCompleted outside the lock).
    /// </summary>
    private bool Settle(SendState state)
    {
        if (state == SendState.Pending)
        {
            _backlog = true;
            return false;
        }
        if (_waiting)
        {
            _waiting = false;
            Finish(new FlushResult(isCanceled: false, isCompleted: state == SendState.Failed));
        }
        return TakeShutdown();
    }

    private bool TakeShutdown()
    {
        if (!_shutdownWhenSent)
            return false;
        _shutdownWhenSent = false;
        if (_buffer is not null && !_memoryOut)
        {
            BufferPool.Shared.Return(_buffer);
            _buffer = null;
        }
        return true;
    }

    FlushResult IValueTaskSource<FlushResult>.GetResult(short token) => _core.GetResult(token);
    ValueTaskSourceStatus IValueTaskSource<FlushResult>.GetStatus(short token) => _core.GetStatus(token);
    void IValueTaskSource<FlushResult>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
