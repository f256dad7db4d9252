using System.Runtime.InteropServices;

namespace Weft.Proxy.Transport;

/// <summary>The Linux calls the event loop makes itself (x86-64 layout of epoll_event). Blittable signatures only.</summary>
internal static class Native
{
    public const int EAGAIN = 11;
    public const int EINTR = 4;
    public const int EBADF = 9;
    public const int ENOMEM = 12;
    public const int ENFILE = 23;
    public const int EMFILE = 24;
    public const int ENOSPC = 28;
    public const int EPIPE = 32;
    public const int ENETDOWN = 100;
    public const int ENETUNREACH = 101;
    public const int ECONNABORTED = 103;
    public const int ECONNRESET = 104;
    public const int ENOBUFS = 105;
    public const int ENOTCONN = 107;
    public const int ETIMEDOUT = 110;
    public const int ECONNREFUSED = 111;
    public const int EHOSTUNREACH = 113;
    public const int EADDRNOTAVAIL = 99;

    public const uint EPOLLIN = 0x001;
    public const uint EPOLLOUT = 0x004;
    public const uint EPOLLERR = 0x008;
    public const uint EPOLLHUP = 0x010;
    public const uint EPOLLRDHUP = 0x2000;
    public const uint EPOLLET = 0x80000000;

    public const int EPOLL_CTL_ADD = 1;
    public const int EPOLL_CLOEXEC = 0x80000;
    public const int SOCK_NONBLOCK = 0x800;
    public const int SOCK_CLOEXEC = 0x80000;
    public const int MSG_PEEK = 0x2;
    public const int MSG_DONTWAIT = 0x40;
    public const int MSG_NOSIGNAL = 0x4000;
    public const int EFD_NONBLOCK = 0x800;
    public const int EFD_CLOEXEC = 0x80000;
    public const int SHUT_WR = 1;

    /// <summary>struct epoll_event is packed on x86-64: 4 bytes of events, 8 of data.</summary>
    [StructLayout(LayoutKind.Sequential, Pack = 4)]
    public struct EpollEvent
    {
        public uint Events;
        public ulong Data;
    }

    /// <summary>The loop needs the packed x86-64 epoll_event; elsewhere the proxy keeps Kestrel's socket transport.</summary>
    public static bool Supported => OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture == Architecture.X64;

    [DllImport("libc", SetLastError = true)] public static extern int epoll_create1(int flags);
    [DllImport("libc", SetLastError = true)] public static extern int epoll_ctl(int epfd, int op, int fd, ref EpollEvent ev);
    [DllImport("libc", SetLastError = true)] public static extern int epoll_wait(int epfd, [Out] EpollEvent[] events, int maxEvents, int timeout);
    [DllImport("libc", SetLastError = true)] public static extern nint recv(nint fd, ref byte buffer, nint length, int flags);
    [DllImport("libc", SetLastError = true)] public static extern nint send(nint fd, ref byte buffer, nint length, int flags);
    [DllImport("libc", SetLastError = true)] public static extern int accept4(nint fd, nint address, nint addressLength, int flags);
    [DllImport("libc", SetLastError = true)] public static extern int shutdown(nint fd, int how);
    [DllImport("libc", SetLastError = true)] public static extern int close(int fd);
    [DllImport("libc", SetLastError = true)] public static extern int eventfd(uint initial, int flags);
    [DllImport("libc", SetLastError = true)] public static extern nint write(int fd, ref ulong value, nint length);
    [DllImport("libc", SetLastError = true)] public static extern nint read(int fd, ref ulong value, nint length);

    [DllImport("libc", SetLastError = true)] public static extern int setsockopt(nint fd, int level, int name, ref int value, int length);
    [DllImport("libc", SetLastError = true)] public static extern int setsockopt(nint fd, int level, int name, ref Linger value, int length);

    public const int SO_LINGER = 13;

    /// <summary>struct linger: on with 0 seconds makes close(2) send a reset and drop unsent bytes.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Linger
    {
        public int OnOff;
        public int Seconds;
    }

    public const long SYS_io_uring_setup = 425;
    public const long SYS_io_uring_enter = 426;
    public const int PROT_READ = 1;
    public const int PROT_WRITE = 2;
    public const int MAP_SHARED = 0x01;
    public const int MAP_POPULATE = 0x8000;

    /// <summary>glibc's syscall() is assembly, not a C variadic: six integer arguments pass as for any call.</summary>
    [DllImport("libc", SetLastError = true)] public static extern long syscall(long number, nint a1, nint a2, nint a3, nint a4, nint a5, nint a6);
    [DllImport("libc", SetLastError = true)] public static extern nint mmap(nint address, nint length, int protection, int flags, int fd, long offset);
    [DllImport("libc", SetLastError = true)] public static extern int munmap(nint address, nint length);

    public const int IPPROTO_TCP = 6;
    public const int TCP_NODELAY = 1;

    [DllImport("libc", SetLastError = true)] public static extern int getsockname(nint fd, ref byte address, ref int length);
    [DllImport("libc", SetLastError = true)] public static extern int getpeername(nint fd, ref byte address, ref int length);

    /// <summary>The local or peer address of a socket, from the sockaddr the kernel writes (IPv4 or IPv6).</summary>
    public static System.Net.IPEndPoint? EndPoint(nint fd, bool peer)
    {
        Span<byte> address = stackalloc byte[128];
        var length = address.Length;
        ref var first = ref MemoryMarshal.GetReference(address);
        if ((peer ? getpeername(fd, ref first, ref length) : getsockname(fd, ref first, ref length)) != 0)
            return null;
        var family = BitConverter.ToUInt16(address);
        var port = (address[2] << 8) | address[3];
        return family switch
        {
            2 => new System.Net.IPEndPoint(new System.Net.IPAddress(address.Slice(4, 4)), port),
            10 => new System.Net.IPEndPoint(new System.Net.IPAddress(address.Slice(8, 16), BitConverter.ToUInt32(address.Slice(24, 4))), port),
            _ => null,
        };
    }

    [DllImport("libc", SetLastError = true)] public static extern int socket(int domain, int type, int protocol);
    [DllImport("libc", SetLastError = true)] public static extern int connect(nint fd, ref byte address, int length);
    [DllImport("libc", SetLastError = true)] public static extern int getsockopt(nint fd, int level, int name, ref int value, ref int length);

    public const int SOL_SOCKET = 1;
    public const int SO_ERROR = 4;
    public const int SOCK_STREAM = 1;
    public const int EINPROGRESS = 115;

    /// <summary>Writes a sockaddr_in or sockaddr_in6 for the endpoint; returns its length.</summary>
    public static int SocketAddress(System.Net.IPEndPoint endpoint, Span<byte> address)
    {
        address.Clear();
        var port = endpoint.Port;
        address[2] = (byte)(port >> 8);
        address[3] = (byte)port;
        if (endpoint.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork)
        {
            BitConverter.TryWriteBytes(address, (ushort)2);
            endpoint.Address.TryWriteBytes(address.Slice(4, 4), out _);
            return 16;
        }
        BitConverter.TryWriteBytes(address, (ushort)10);
        endpoint.Address.TryWriteBytes(address.Slice(8, 16), out _);
        BitConverter.TryWriteBytes(address.Slice(24, 4), (uint)endpoint.Address.ScopeId);
        return 28;
    }

    public static int LastError => Marshal.GetLastPInvokeError();

    /// <summary>
    /// A SocketException for an errno. SocketException(int) takes a SocketError, not an errno: given
    /// ECONNREFUSED (111) it reports error code 111, which is no SocketError, instead of ConnectionRefused.
    /// </summary>
    public static System.Net.Sockets.SocketException SocketException(int errno) => new((int)(errno switch
    {
        ECONNREFUSED => System.Net.Sockets.SocketError.ConnectionRefused,
        ETIMEDOUT => System.Net.Sockets.SocketError.TimedOut,
        EHOSTUNREACH => System.Net.Sockets.SocketError.HostUnreachable,
        ENETUNREACH => System.Net.Sockets.SocketError.NetworkUnreachable,
        ENETDOWN => System.Net.Sockets.SocketError.NetworkDown,
        ECONNRESET => System.Net.Sockets.SocketError.ConnectionReset,
        ECONNABORTED => System.Net.Sockets.SocketError.ConnectionAborted,
        EADDRNOTAVAIL => System.Net.Sockets.SocketError.AddressNotAvailable,
        EMFILE or ENFILE => System.Net.Sockets.SocketError.TooManyOpenSockets,
        ENOBUFS or ENOMEM or ENOSPC => System.Net.Sockets.SocketError.NoBufferSpaceAvailable,
        _ => System.Net.Sockets.SocketError.SocketError,
    }));

    /// <summary>The calls <see cref="Fault"/> can fail.</summary>
    public enum FaultPoint { EpollAdd, IoUringEnter, Accept }

    /// <summary>
    /// Test-only fault injection, for errors a test cannot provoke safely on a shared machine (ENOSPC
    /// from epoll_ctl needs fs.epoll.max_user_watches lowered, which is one limit for every user; ENOMEM
    /// needs the kernel short of memory). When set, <see cref="EpollAdd"/> and <see cref="IoUringEnter"/>
    /// ask it first, with their descriptor, and fail with the errno it returns instead of making the
    /// call (0: the call is made). Null outside tests: one static read per call. <see cref="Accept"/>
    /// asks too, which lets a test act (unbind the listener) at the moment before a listener's accept4.
    /// </summary>
    internal static Func<FaultPoint, nint, int>? Fault;

    /// <summary>accept4, non-blocking and close-on-exec: the new descriptor, or -1 with the errno.</summary>
    public static int Accept(nint listener, out int errno)
    {
        if (Fault?.Invoke(FaultPoint.Accept, listener) is int injected and not 0)
        {
            errno = injected;
            return -1;
        }
        var fd = accept4(listener, 0, 0, SOCK_NONBLOCK | SOCK_CLOEXEC);
        errno = fd < 0 ? LastError : 0;
        return fd;
    }

    /// <summary>epoll_ctl(ADD): 0, or the errno.</summary>
    public static int EpollAdd(int epoll, nint fd, ref EpollEvent ev)
    {
        if (Fault?.Invoke(FaultPoint.EpollAdd, fd) is int injected and not 0)
            return injected;
        return epoll_ctl(epoll, EPOLL_CTL_ADD, (int)fd, ref ev) == 0 ? 0 : LastError;
    }

    /// <summary>io_uring_enter: what the kernel returns (the entries it took), or -errno.</summary>
    public static long IoUringEnter(int ring, uint toSubmit, uint minComplete, uint flags)
    {
        if (Fault?.Invoke(FaultPoint.IoUringEnter, ring) is int injected and not 0)
            return -injected;
        var entered = syscall(SYS_io_uring_enter, ring, (nint)toSubmit, (nint)minComplete, (nint)flags, 0, 0);
        return entered >= 0 ? entered : -LastError;
    }
}
