using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Weft.Proxy.Transport;

/// <summary>
/// The sends a loop's own handlers flush while it works through one epoll batch, made together in one
/// io_uring submission when the batch is done (docs/proxy.md, "Batched sends"). Made one at a time,
/// each send() that wakes a peer on the same core lets it preempt the loop on the way back to user
/// space, and the loop and the app then ping-pong once per request; one submission wakes the peer once
/// for all of them. Each send is non-blocking (MSG_DONTWAIT): it completes inside the submission, and
/// what the socket cannot take goes back to its writer, which sends it the ordinary way on the next
/// writable edge. A flush's bytes are copied here when it is queued, into pinned staging the GC never
/// moves, and the writer's buffer goes back to the pool at once: a thousand connections flushing in
/// one batch hold no buffer each until it is sent. Two staging areas take turns, so a round's
/// completions (which may queue the next round) never overwrite bytes still being looked at. Loop
/// thread only; where io_uring is not available the loop keeps sending directly.
/// </summary>
internal sealed unsafe class SendBatch : IDisposable
{
    /// <summary>Flushes larger than this are sent at once: batching is for the small requests and responses that dominate.</summary>
    public const int MaxQueued = 16 * 1024;

    private const uint Entries = 256;
    private const int AreaSize = 128 * 1024;

    private const uint IORING_SETUP_SUBMIT_ALL = 1u << 7;
    private const uint IORING_SETUP_COOP_TASKRUN = 1u << 8;
    private const uint IORING_SETUP_SINGLE_ISSUER = 1u << 12;
    private const uint IORING_FEAT_SINGLE_MMAP = 1u << 0;
    private const byte IORING_OP_SEND = 26;
    private const uint IORING_ENTER_GETEVENTS = 1;
    private const long IORING_OFF_SQES = 0x10000000;
    private const int MSG_DONTWAIT = 0x40;

    [StructLayout(LayoutKind.Sequential)]
    private struct SqOffsets
    {
        public uint Head, Tail, RingMask, RingEntries, Flags, Dropped, Array, Resv1;
        public ulong UserAddr;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct CqOffsets
    {
        public uint Head, Tail, RingMask, RingEntries, Overflow, Cqes, Flags, Resv1;
        public ulong UserAddr;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct Params
    {
        public uint SqEntries, CqEntries, Flags, SqThreadCpu, SqThreadIdle, Features, WqFd, Resv0, Resv1, Resv2;
        public SqOffsets Sq;
        public CqOffsets Cq;
    }

    [StructLayout(LayoutKind.Explicit, Size = 64)]
    private struct Sqe
    {
        [FieldOffset(0)] public byte Opcode;
        [FieldOffset(1)] public byte Flags;
        [FieldOffset(2)] public ushort IoPrio;
        [FieldOffset(4)] public int Fd;
        [FieldOffset(8)] public ulong Offset;
        [FieldOffset(16)] public ulong Address;
        [FieldOffset(24)] public uint Length;
        [FieldOffset(28)] public uint MessageFlags;
        [FieldOffset(32)] public ulong UserData;
        [FieldOffset(40)] public ulong Rest0;
        [FieldOffset(48)] public ulong Rest1;
        [FieldOffset(56)] public ulong Rest2;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct Cqe
    {
        public ulong UserData;
        public int Result;
        public uint Flags;
    }

    private readonly int _ring;
    private readonly nint _ringMap, _sqeMap;
    private readonly nint _ringLength, _sqeLength;
    private readonly uint* _sqTail;
    private readonly uint _sqMask;
    private readonly Sqe* _sqes;
    private readonly uint* _cqHead, _cqTail;
    private readonly uint _cqMask;
    private readonly Cqe* _cqes;
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

    private SendBatch(int ring, in Params p, nint ringMap, nint ringLength, nint sqeMap, nint sqeLength)
    {
        _ring = ring;
        _ringMap = ringMap;
        _ringLength = ringLength;
        _sqeMap = sqeMap;
        _sqeLength = sqeLength;
        var b = (byte*)ringMap;
        _sqTail = (uint*)(b + p.Sq.Tail);
        _sqMask = *(uint*)(b + p.Sq.RingMask);
        var array = (uint*)(b + p.Sq.Array);
        for (uint i = 0; i < p.SqEntries; i++)
            array[i] = i;                                  // SQE i always sits in slot i: only the tail moves
        _sqes = (Sqe*)sqeMap;
        _cqHead = (uint*)(b + p.Cq.Head);
        _cqTail = (uint*)(b + p.Cq.Tail);
        _cqMask = *(uint*)(b + p.Cq.RingMask);
        _cqes = (Cqe*)(b + p.Cq.Cqes);
        _stagingAddress = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_staging));   // pinned: never moves
    }

    /// <summary>A ring for the calling thread (it must be the only one to submit), or null when the kernel offers none.</summary>
    public static SendBatch? TryCreate()
    {
        var p = new Params { Flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SINGLE_ISSUER };
        var ring = (int)Native.syscall(Native.SYS_io_uring_setup, (nint)Entries, (nint)(&p), 0, 0, 0, 0);
        if (ring < 0)
            return null;
        if ((p.Features & IORING_FEAT_SINGLE_MMAP) == 0)
        {
            Native.close(ring);
            return null;
        }
        var ringLength = (nint)Math.Max(p.Sq.Array + p.SqEntries * sizeof(uint), p.Cq.Cqes + p.CqEntries * (uint)sizeof(Cqe));
        var sqeLength = (nint)(p.SqEntries * (uint)sizeof(Sqe));
        var ringMap = Native.mmap(0, ringLength, Native.PROT_READ | Native.PROT_WRITE, Native.MAP_SHARED | Native.MAP_POPULATE, ring, 0);
        var sqeMap = Native.mmap(0, sqeLength, Native.PROT_READ | Native.PROT_WRITE, Native.MAP_SHARED | Native.MAP_POPULATE, ring, IORING_OFF_SQES);
        if (ringMap == -1 || sqeMap == -1)
        {
            if (ringMap != -1)
                Native.munmap(ringMap, ringLength);
            if (sqeMap != -1)
                Native.munmap(sqeMap, sqeLength);
            Native.close(ring);
            return null;
        }
        return new SendBatch(ring, p, ringMap, ringLength, sqeMap, sqeLength);
    }

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

    /// <summary>Sends everything queued, in one submission per round; a round's completions may queue the next.</summary>
    public void Submit()
    {
        while (_count > 0)
        {
            (_queued, _inflight) = (_inflight, _queued);
            var count = (uint)_count;
            _count = 0;
            _area ^= 1;
            _used = 0;
            var tail = *_sqTail;
            for (uint i = 0; i < count; i++)
            {
                ref readonly var entry = ref _inflight[i];
                ref var sqe = ref _sqes[(tail + i) & _sqMask];
                sqe = default;
                sqe.Opcode = IORING_OP_SEND;
                sqe.Fd = (int)entry.Fd;
                sqe.Address = (ulong)(_stagingAddress + entry.Offset);
                sqe.Length = (uint)entry.Length;
                sqe.MessageFlags = (uint)(Native.MSG_NOSIGNAL | MSG_DONTWAIT);
                sqe.UserData = i;
            }
            Volatile.Write(ref *_sqTail, tail + count);
            Enter(count);
            // Every send completed inside the submission (MSG_DONTWAIT never leaves one waiting), so
            // the completions are all here.
            var head = *_cqHead;
            for (uint reaped = 0; reaped < count; reaped++)
            {
                ref var cqe = ref _cqes[head & _cqMask];
                var index = (int)cqe.UserData;
                var result = cqe.Result;
                Volatile.Write(ref *_cqHead, ++head);
                ref var entry = ref _inflight[index];
                var writer = entry.Writer!;
                entry.Writer = null;
                writer.OnStagedSent(result, _staging.AsSpan(entry.Offset, entry.Length));
            }
        }
    }

    /// <summary>Submits the prepared entries and waits for as many completions (immediate: each send completes inline).</summary>
    private void Enter(uint prepared)
    {
        var toSubmit = prepared;
        while (true)
        {
            var completed = Volatile.Read(ref *_cqTail) - *_cqHead;
            if (toSubmit == 0 && completed >= prepared)
                return;
            var entered = Native.syscall(Native.SYS_io_uring_enter, _ring, (nint)toSubmit, (nint)(prepared - completed),
                (nint)IORING_ENTER_GETEVENTS, 0, 0);
            if (entered >= 0)
            {
                toSubmit -= (uint)entered;
                continue;
            }
            var errno = Native.LastError;
            if (errno is not (Native.EINTR or Native.EAGAIN or EBUSY))
                Environment.FailFast($"weft: io_uring_enter failed: errno {errno}");
        }
    }

    private const int EBUSY = 16;

    public void Dispose()
    {
        Native.munmap(_sqeMap, _sqeLength);
        Native.munmap(_ringMap, _ringLength);
        Native.close(_ring);
    }
}
