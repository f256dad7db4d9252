using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;

namespace Weft.Proxy.Transport;

/// <summary>
/// Ends a connection with a TCP reset whatever transport it came from. A proxy that gives up on a
/// response midway must not close with a FIN: to a client reading a close-delimited body, a FIN says
/// the body is complete.
/// </summary>
internal static class ConnectionReset
{
    public static void Abort(ConnectionContext connection, string reason)
    {
        var abort = new ConnectionAbortedException(reason);
        // Kestrel's socket transport shuts a connection down both ways before disposing it, which sends
        // a FIN first: the socket is disconnected with a reset in the kernel before that.
        if (connection is not LoopConnection && connection.Features.Get<IConnectionSocketFeature>()?.Socket is { } socket)
            Disconnect(socket);
        connection.Abort(abort);
    }

    /// <summary>
    /// Resets a .NET socket now, even with a receive pending. Dispose alone cannot: it unblocks a
    /// pending receive with shutdown(2) first, and that sends the peer a FIN before the reset, which a
    /// peer reads as an orderly end. A connect to AF_UNSPEC disconnects the socket in the kernel with
    /// a reset (Linux), then the dispose closes the descriptor; elsewhere a zero linger is all there is.
    /// </summary>
    public static void Reset(Socket socket)
    {
        Disconnect(socket);
        socket.Dispose();
    }

    /// <summary>A zero linger, then (Linux) a connect to AF_UNSPEC: the kernel resets the connection at once.</summary>
    private static void Disconnect(Socket socket)
    {
        try
        {
            socket.LingerState = new LingerOption(true, 0);
            if (Native.Supported)
            {
                var handle = socket.SafeHandle;
                var added = false;
                try
                {
                    handle.DangerousAddRef(ref added);
                    Span<byte> unspecified = stackalloc byte[16];
                    unspecified.Clear();
                    _ = Native.connect(handle.DangerousGetHandle(), ref unspecified[0], unspecified.Length);
                }
                finally
                {
                    if (added)
                        handle.DangerousRelease();
                }
            }
        }
        catch (Exception e) when (e is ObjectDisposedException or SocketException)
        {
            // Closed already: nothing left to reset.
        }
    }
}
