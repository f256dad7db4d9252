using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Weft.Proxy.Interception;

/// <summary>
/// Where a connection redirected by iptables (nat REDIRECT) was going before the redirect: the kernel
/// keeps it in the conntrack entry and answers getsockopt(SOL_IP, SO_ORIGINAL_DST) on the accepted
/// socket with a sockaddr_in. IPv4 only, as the rules are (docs/transparent.md).
/// </summary>
internal static partial class OriginalDestinationReader
{
    private const int SolIp = 0;
    private const int SoOriginalDst = 80;
    private const int SockaddrInLength = 16;

    /// <summary>The original destination, or null when the socket was not redirected (or is not IPv4 on Linux).</summary>
    public static IPEndPoint? Of(Socket socket)
    {
        if (!OperatingSystem.IsLinux() || socket.AddressFamily is not (AddressFamily.InterNetwork or AddressFamily.InterNetworkV6))
            return null;
        var buffer = new byte[SockaddrInLength];
        var length = buffer.Length;
        bool added = false;
        var handle = socket.SafeHandle;
        try
        {
            handle.DangerousAddRef(ref added);
            if (getsockopt((int)handle.DangerousGetHandle(), SolIp, SoOriginalDst, buffer, ref length) != 0)
                return null;
        }
        catch (ObjectDisposedException)
        {
            return null;
        }
        finally
        {
            if (added) handle.DangerousRelease();
        }
        return Parse(buffer.AsSpan(0, length));
    }

    /// <summary>sockaddr_in: family (host order), port (network order), address (network order).</summary>
    public static IPEndPoint? Parse(ReadOnlySpan<byte> sockaddr)
    {
        if (sockaddr.Length < 8 || BinaryPrimitives.ReadUInt16LittleEndian(sockaddr) != 2 /* AF_INET */)
            return null;
        var port = BinaryPrimitives.ReadUInt16BigEndian(sockaddr[2..]);
        return new IPEndPoint(new IPAddress(sockaddr.Slice(4, 4)), port);
    }

    [DllImport("libc", SetLastError = true)]
#pragma warning disable SYSLIB1054 // LibraryImport needs AllowUnsafeBlocks, which the project does not set.
    private static extern int getsockopt(int sockfd, int level, int optname, [Out] byte[] optval, ref int optlen);
#pragma warning restore SYSLIB1054
}
