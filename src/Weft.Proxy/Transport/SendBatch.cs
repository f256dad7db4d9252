using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Weft.Proxy.Transport;

/// <summary>
/// The sends a loop's own handlers flush while it works through one epoll batch, made together in one
/// io_uring submission when the batch is done (docs/proxy.md, "Batched sends"). Made one at a time,
/// each send() that wakes a peer on the same core lets it preempt the loop on the way back to user
/// space, and the loop and the app then ping-pong once per request; one submission wakes the peer once
/// for all of them. Each send is non-blocking: it completes inside the submission, and what the socket
/// cannot take goes back to its writer, which sends it the ordinary way on the next writable edge.
/// A flush's bytes are copied here when it is queued, into pinned staging the GC never moves, and the
/// writer's buffer goes back to the pool at once: a thousand connections flushing in one batch hold no
/// buffer each until it is sent. Two staging areas take turns, so a round's completions (which may
/// queue the next round) never overwrite bytes still being looked at. Loop thread only; where
/// io_uring is not available the loop keeps sending directly.
/// </summary>
internal sealed unsafe class SendBatch : IDisposable
{
    /// <summary>Flushes larger than this are sent at once: batching is for the small requests and responses that dominate.</summary>
    public const int MaxQueued = 16 * 1024;

    private const uint Entries = 256;
    private const int AreaSize = 128 * 1024;

    private readonly IoUring _ring;
    private readonly byte[] _staging = GC.AllocateUninitializedArray<byte>(2 * AreaSize, pinned: true);
    private readonly byte* _stagingAddress;
    private Entry[] _queued = new Entry[Entries];
    private Entry[] _inflight = new Entry[Entries];
    private int _count;
    private int _area;          // the staging area new entries go to (0 or 1)
    private int _used;          // bytes of it taken

    private struct Entry
    {
        public LoopWriter? Writer;
        public nint Fd;
        public int Offset, Length;
    }

    private SendBatch(IoUring ring)
    {
        _ring = ring;
        _stagingAddress = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_staging));   // pinned: never moves
    }

    /// <summary>A batch for the calling thread (it must be the only one to submit), or null when the kernel offers no io_uring.</summary>
    public static SendBatch? TryCreate() => IoUring.TryCreate(Entries) is { } ring ? new SendBatch(ring) : null;

    /// <summary>The batch of the loop whose thread this is, if it has one.</summary>
    [ThreadStatic] private static SendBatch? t_current;

    public static SendBatch? Current => t_current;

    public void MakeCurrent() => t_current = this;

    /// <summary>
    /// Copies a writer's bytes for the batch to send to <paramref name="fd"/> (held open by the writer
    /// until its completion); false when the batch is full (the writer sends them itself).
    /// </summary>
    public bool Enqueue(LoopWriter writer, nint fd, ReadOnlySpan<byte> bytes)
    {
        if (_count == _queued.Length || _used + bytes.Length > AreaSize)
            return false;
        var offset = _area * AreaSize + _used;
        bytes.CopyTo(_staging.AsSpan(offset));
        _used += bytes.Length;
        _queued[_count++] = new Entry { Writer = writer, Fd = fd, Offset = offset, Length = bytes.Length };
        return true;
    }

    /// <summary>
    /// Adds a writer's later flush to the send it already has queued, when that send is the last one
    /// staged (so the bytes stay contiguous) and still small: a response's head and body flushed one
    /// after the other in a batch go out as one send, one TCP segment, not two (each segment costs
    /// the kernel's whole send and receive path, and wakes the peer's delayed ACK). False when the
    /// writer's send is not the last, is being sent already, or would grow past <see cref="MaxQueued"/>:
    /// the bytes then wait in the writer for the send's completion.
    /// </summary>
    public bool TryAppend(LoopWriter writer, ReadOnlySpan<byte> bytes)
    {
        if (_count == 0)
            return false;
        ref var last = ref _queued[_count - 1];
        if (!ReferenceEquals(last.Writer, writer) || last.Offset + last.Length != _area * AreaSize + _used
            || last.Length + bytes.Length > MaxQueued || _used + bytes.Length > AreaSize)
            return false;
        bytes.CopyTo(_staging.AsSpan(last.Offset + last.Length));
        last.Length += bytes.Length;
        _used += bytes.Length;
        return true;
    }

    /// <summary>
    /// Sends everything queued, in one submission per round; a round's completions may queue the next.
    /// Sends io_uring does not make go back to their writers to be made the ordinary way (counted in
    /// <see cref="TransportCounters.BatchFallbacks"/>); a writer that throws ends its own connection.
    /// </summary>
    public void Submit()
    {
        while (_count > 0)
        {
            (_queued, _inflight) = (_inflight, _queued);
            var count = _count;
            _count = 0;
            _area ^= 1;
            _used = 0;
            for (var i = 0; i < count; i++)
            {
                ref readonly var entry = ref _inflight[i];
                _ring.PrepareSend((int)entry.Fd, _stagingAddress + entry.Offset, entry.Length, (ulong)i);
            }
            var submitted = _ring.SubmitAndWait(out var withdrawn);
            var completed = _ring.Broken ? _ring.Ready : submitted;
            for (uint c = 0; c < completed; c++)
            {
                var (index, result) = _ring.TakeCompletion();
                if (index < (ulong)count)
                    Settle((int)index, result, refused: result < 0 && result != -Native.EAGAIN && !IsSocketFailure(-result));
            }
            for (var i = count - (int)withdrawn; i < count; i++)
                Settle(i, 0, refused: true);
            if (_ring.Broken)
            {
                Abandon(count);
                return;
            }
        }
    }

    /// <summary>Hands one entry's outcome to its writer; a refused send goes back to be made the ordinary way.</summary>
    private void Settle(int index, int result, bool refused)
    {
        ref var entry = ref _inflight[index];
        var writer = entry.Writer;
        if (writer is null)
            return;
        entry.Writer = null;
        var staged = _staging.AsSpan(entry.Offset, entry.Length);
        try
        {
            if (refused)
            {
                TransportCounters.BatchFellBack();
                writer.OnStagedRefused(staged);
            }
            else
            {
                writer.OnStagedSent(result, staged);
            }
        }
        catch (Exception ex)
        {
            EventLoop.Fail(writer.Connection, ex);
        }
    }

    /// <summary>Errors that are the socket's own (the peer is gone): a send made the ordinary way would fail alike.</summary>
    private static bool IsSocketFailure(int errno) => errno is Native.EPIPE or Native.ECONNRESET or Native.ECONNABORTED or Native.ENOTCONN
        or Native.ETIMEDOUT or Native.ECONNREFUSED or Native.EHOSTUNREACH or Native.ENETUNREACH or Native.ENETDOWN;

    /// <summary>Batches the loop gave up on: kept reachable for good, as the kernel may still read their staging.</summary>
    private static readonly List<SendBatch> s_abandoned = [];

    /// <summary>
    /// The ring stopped completing sends it took: their writers fail and their connections reset (what
    /// reached the peer is unknown), and the loop sends directly from now on. The ring and the staging
    /// it may still read are never released.
    /// </summary>
    private void Abandon(int count)
    {
        for (var i = 0; i < count; i++)
        {
            ref var entry = ref _inflight[i];
            if (entry.Writer is not { } writer)
                continue;
            entry.Writer = null;
            try
            {
                writer.OnStagedSent(-Native.EPIPE, default);
                writer.Connection.Abort(new Microsoft.AspNetCore.Connections.ConnectionAbortedException("io_uring stopped completing this connection's sends"));
            }
            catch (Exception ex)
            {
                EventLoop.Fail(writer.Connection, ex);
            }
        }
        lock (s_abandoned)
            s_abandoned.Add(this);
        t_current = null;
    }

    public void Dispose()
    {
        if (!_ring.Broken)
            _ring.Dispose();
    }
}
