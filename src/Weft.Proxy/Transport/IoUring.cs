using System.Runtime.InteropServices;

namespace Weft.Proxy.Transport;

/// <summary>
/// An io_uring instance set up for what the loop transport asks of it: non-blocking sends, submitted
/// together and completed inside the submitting call. The kernel ABI (io_uring.h: the setup
/// parameters, the shared rings, submission and completion entries) lives here; what to send and why
/// lives in <see cref="SendBatch"/>. One submitting thread (IORING_SETUP_SINGLE_ISSUER): the one that
/// created it.
/// </summary>
internal sealed unsafe class IoUring : IDisposable
{
    private const uint IORING_SETUP_SUBMIT_ALL = 1u << 7;
    private const uint IORING_SETUP_COOP_TASKRUN = 1u << 8;
    private const uint IORING_SETUP_SINGLE_ISSUER = 1u << 12;
    private const uint IORING_FEAT_SINGLE_MMAP = 1u << 0;
    private const byte IORING_OP_SEND = 26;
    private const uint IORING_ENTER_GETEVENTS = 1;
    private const long IORING_OFF_SQES = 0x10000000;
    private const int MSG_DONTWAIT = 0x40;

    // io_sqring_offsets and io_cqring_offsets: alike in shape, different fields.
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
    private uint _prepared;

    private IoUring(int ring, in Params p, nint ringMap, nint ringLength, nint sqeMap, nint sqeLength)
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
    }

    /// <summary>A ring for the calling thread (it must be the only one to submit), or null when the kernel offers none.</summary>
    public static IoUring? TryCreate(uint entries)
    {
        var p = new Params { Flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SINGLE_ISSUER };
        var ring = (int)Native.syscall(Native.SYS_io_uring_setup, (nint)entries, (nint)(&p), 0, 0, 0, 0);
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
        return new IoUring(ring, p, ringMap, ringLength, sqeMap, sqeLength);
    }

    /// <summary>Adds a non-blocking send (MSG_DONTWAIT: it never waits on the socket) to the next submission; at most the entries it was created with, per submission.</summary>
    public void PrepareSend(int fd, byte* address, int length, ulong userData)
    {
        ref var sqe = ref _sqes[(*_sqTail + _prepared++) & _sqMask];
        sqe = default;
        sqe.Opcode = IORING_OP_SEND;
        sqe.Fd = fd;
        sqe.Address = (ulong)address;
        sqe.Length = (uint)length;
        sqe.MessageFlags = (uint)(Native.MSG_NOSIGNAL | MSG_DONTWAIT);
        sqe.UserData = userData;
    }

    /// <summary>
    /// Submits what was prepared and waits for their completions, which is immediate: each send
    /// completes inside the call. Returns how many entries were submitted, each with a completion to
    /// <see cref="TakeCompletion"/>. When the kernel refuses the submission (io_uring_enter fails with
    /// anything but EINTR: ENOMEM, EAGAIN, EBUSY...), the entries it has not taken are withdrawn from the
    /// ring, never to be sent: <paramref name="withdrawn"/> says how many, the last ones prepared.
    /// </summary>
    public uint SubmitAndWait(out uint withdrawn)
    {
        var prepared = _prepared;
        _prepared = 0;
        Volatile.Write(ref *_sqTail, *_sqTail + prepared);
        var toSubmit = prepared;
        withdrawn = 0;
        var failedWaits = 0;
        while (true)
        {
            var submitted = prepared - withdrawn;
            var completed = Volatile.Read(ref *_cqTail) - *_cqHead;
            if (toSubmit == 0 && completed >= submitted)
                return submitted;
            var entered = Native.IoUringEnter(_ring, toSubmit, submitted - completed, IORING_ENTER_GETEVENTS);
            if (entered >= 0)
            {
                toSubmit -= (uint)entered;
                continue;
            }
            if (entered == -Native.EINTR)
                continue;
            if (toSubmit > 0)
            {
                // The kernel reads the tail only inside io_uring_enter, and takes entries from its own
                // head: moving the tail back takes the untaken ones out of the ring.
                Volatile.Write(ref *_sqTail, *_sqTail - toSubmit);
                withdrawn += toSubmit;
                toSubmit = 0;
                continue;
            }
            // Only the wait failed, for sends already taken: their completions are posted as they are
            // made (inside the call, non-blocking), so this is a kernel that no longer serves the ring.
            if (++failedWaits == 1000)
            {
                Broken = true;
                return submitted;
            }
        }
    }

    /// <summary>
    /// A wait for completions failed over and over: some sends the ring took may never complete, and
    /// their bytes may still be read. Nothing is submitted again, and the memory they point to must stay.
    /// </summary>
    public bool Broken { get; private set; }

    /// <summary>Completions posted and not yet taken.</summary>
    public uint Ready => Volatile.Read(ref *_cqTail) - *_cqHead;

    /// <summary>The oldest completion not yet taken: its user data and result (a byte count, or -errno).</summary>
    public (ulong UserData, int Result) TakeCompletion()
    {
        var head = *_cqHead;
        ref var cqe = ref _cqes[head & _cqMask];
        var completion = (cqe.UserData, cqe.Result);
        Volatile.Write(ref *_cqHead, head + 1);
        return completion;
    }

    public void Dispose()
    {
        Native.munmap(_sqeMap, _sqeLength);
        Native.munmap(_ringMap, _ringLength);
        Native.close(_ring);
    }
}
