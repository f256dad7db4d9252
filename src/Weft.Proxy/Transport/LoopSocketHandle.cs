using System.Net;
using System.Runtime.InteropServices;

namespace Weft.Proxy.Transport;

/// <summary>
/// A socket descriptor the loop transport owns, and the calls made on it. Every call holds a
/// reference, so a close from another thread waits for the call in flight instead of freeing a number
/// the kernel may reuse at once; a call after the close fails with EBADF. Closing is a plain close(2):
/// an orderly FIN, never the abortive reset a Socket's dispose may send, unless <see cref="ResetOnClose"/>
/// asked for one.
/// </summary>
internal sealed class LoopSocketHandle : SafeHandle
{
    private const int EBADF = 9;

    public LoopSocketHandle(int fd) : base(-1, ownsHandle: true) => SetHandle(fd);

    public override bool IsInvalid => handle < 0;

    protected override bool ReleaseHandle() => Native.close((int)handle) == 0;

    public nint Receive(Span<byte> buffer, out int errno)
    {
        if (!Enter())
        {
            errno = EBADF;
            return -1;
        }
        try
        {
            var n = Native.recv(handle, ref MemoryMarshal.GetReference(buffer), buffer.Length, 0);
            errno = n < 0 ? Native.LastError : 0;
            return n;
        }
        finally
        {
            DangerousRelease();
        }
    }

    /// <summary>
    /// Whether the peer's sending has ended with nothing left unread: a FIN with no byte before it (a
    /// peek returns 0), or a failure. One byte peeked, nothing consumed, so the reader still gets every
    /// byte and a failure's error stays for the next receive unless this peek was the one to see it.
    /// </summary>
    public bool PeerEnded()
    {
        if (!Enter())
            return true;
        try
        {
            byte probe = 0;
            var n = Native.recv(handle, ref probe, 1, Native.MSG_PEEK | Native.MSG_DONTWAIT);
            return n == 0 || (n < 0 && Native.LastError != Native.EAGAIN);
        }
        finally
        {
            DangerousRelease();
        }
    }

    public nint Send(ReadOnlySpan<byte> buffer, out int errno)
    {
        if (!Enter())
        {
            errno = EBADF;
            return -1;
        }
        try
        {
            var n = Native.send(handle, ref MemoryMarshal.GetReference(buffer), buffer.Length, Native.MSG_NOSIGNAL);
            errno = n < 0 ? Native.LastError : 0;
            return n;
        }
        finally
        {
            DangerousRelease();
        }
    }

    /// <summary>SO_ERROR (after a non-blocking connect: 0 when connected), or the errno of reading it.</summary>
    public int SocketError()
    {
        if (!Enter())
            return EBADF;
        try
        {
            int error = 0, length = sizeof(int);
            return Native.getsockopt(handle, Native.SOL_SOCKET, Native.SO_ERROR, ref error, ref length) == 0 ? error : Native.LastError;
        }
        finally
        {
            DangerousRelease();
        }
    }

    /// <summary>getsockname/getpeername; null once closed.</summary>
    public IPEndPoint? EndPoint(bool peer)
    {
        if (!Enter())
            return null;
        try
        {
            return Native.EndPoint(handle, peer);
        }
        finally
        {
            DangerousRelease();
        }
    }

    public void ShutdownSend()
    {
        if (!Enter())
            return;
        try
        {
            Native.shutdown(handle, Native.SHUT_WR);
        }
        finally
        {
            DangerousRelease();
        }
    }

    /// <summary>
    /// SO_LINGER {on, 0}: the close, whenever the last reference lets it happen, sends a reset instead of
    /// a FIN (and drops what the kernel has not sent yet), so the peer cannot take what it got for all.
    /// </summary>
    public void ResetOnClose()
    {
        if (!Enter())
            return;
        try
        {
            var linger = new Native.Linger { OnOff = 1, Seconds = 0 };
            Native.setsockopt(handle, Native.SOL_SOCKET, Native.SO_LINGER, ref linger, Marshal.SizeOf<Native.Linger>());
        }
        finally
        {
            DangerousRelease();
        }
    }

    /// <summary>A reference that keeps the number valid until DangerousRelease; false once closed.</summary>
    public bool TryEnter(out nint fd)
    {
        var entered = Enter();
        fd = entered ? handle : -1;
        return entered;
    }

    private bool Enter()
    {
        var added = false;
        try
        {
            DangerousAddRef(ref added);
        }
        catch (ObjectDisposedException)
        {
            // Closed: the caller reports EBADF.
        }
        return added;
    }
}
