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
    private CancellationTokenRegistration _registration;
    private CancellationToken _flushToken;

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
            _buffer = ArrayPool<byte>.Shared.Rent(Math.Max(InitialSize, needed));
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
            var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(_buffer.Length * 2, pending + needed));
            _buffer.AsSpan(_sent, pending).CopyTo(bigger);
            ArrayPool<byte>.Shared.Return(_buffer);
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
            var state = SendLocked();
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
            return SendState.Failed;
        while (_sent < _length)
        {
            var n = connection.Send(_buffer.AsSpan(_sent, _length - _sent), out var errno);
            if (n > 0)
            {
                _sent += (int)n;
                continue;
            }
            // The writable edge that ends a wait is handled under this same lock, after the waiter is
            // parked: it cannot slip in between this EAGAIN and the park.
            if (errno == Native.EAGAIN)
                return SendState.Pending;
            _failed = true;
            return SendState.Failed;
        }
        // Memory handed out (GetMemory before this flush's Advance) stays where it is: the writer's
        // next Advance counts from _length, so the offsets may only restart once nothing is out.
        if (!_memoryOut)
        {
            _sent = _length = 0;
            if (_buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(_buffer);
                _buffer = null;
            }
        }
        return SendState.Done;
    }

    /// <summary>From the loop: the socket can take more.</summary>
    public void OnWritable()
    {
        var shutdown = false;
        lock (_gate)
        {
            if (!_waiting && !_shutdownWhenSent)
                return;
            var state = SendLocked();
            if (state == SendState.Pending)
                return;
            if (_shutdownWhenSent)
            {
                _shutdownWhenSent = false;
                shutdown = true;
            }
            if (_waiting)
            {
                _waiting = false;
                Finish(new FlushResult(isCanceled: false, isCompleted: state == SendState.Failed));
            }
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
            var state = exception is null ? SendLocked() : SendState.Failed;
            done = state != SendState.Pending;
            if (!done)
                _shutdownWhenSent = true;
            else if (_buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(_buffer);
                _buffer = null;
            }
        }
        if (done)
            connection.OnWriterCompleted();
    }

    FlushResult IValueTaskSource<FlushResult>.GetResult(short token) => _core.GetResult(token);
    ValueTaskSourceStatus IValueTaskSource<FlushResult>.GetStatus(short token) => _core.GetStatus(token);
    void IValueTaskSource<FlushResult>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
