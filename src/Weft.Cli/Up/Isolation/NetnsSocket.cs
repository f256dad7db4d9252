using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Weft.Cli.Up.Isolation;

/// <summary>
/// Opens a TCP connection from inside a network namespace, so `weft up` can see an app listen on
/// 127.0.0.1 of its namespace. A socket belongs to the namespace its creating thread was in: a
/// short-lived thread joins the namespace (setns), creates the socket and ends.
/// </summary>
internal static class NetnsSocket
{
    private const int CloneNewNet = 0x40000000;

    public static async Task<bool> AcceptsAsync(string netns, IPEndPoint endpoint, CancellationToken ct)
    {
        var socket = CreateIn(netns);
        if (socket is null) return false;
        using (socket)
        {
            try { await socket.ConnectAsync(endpoint, ct).ConfigureAwait(false); return true; }
            catch (SocketException) { return false; }
        }
    }

    private static Socket? CreateIn(string netns)
    {
        Socket? socket = null;
        var thread = new Thread(() =>
        {
            try
            {
                using var handle = File.OpenHandle("/run/netns/" + netns);
                if (setns((int)handle.DangerousGetHandle(), CloneNewNet) == 0)
                    socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }) { IsBackground = true, Name = "weft-netns-socket" };
        thread.Start();
        thread.Join();
        return socket;
    }

    [DllImport("libc", SetLastError = true)]
#pragma warning disable SYSLIB1054 // LibraryImport needs AllowUnsafeBlocks, which the project does not set.
    private static extern int setns(int fd, int nstype);
#pragma warning restore SYSLIB1054
}
