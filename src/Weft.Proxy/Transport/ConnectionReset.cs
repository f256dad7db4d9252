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
        if (connection is not LoopConnection && connection.Features.Get<IConnectionSocketFeature>()?.Socket is { } socket)
        {
            try
            {
                socket.LingerState = new LingerOption(true, 0);
            }
            catch (Exception e) when (e is ObjectDisposedException or SocketException)
            {
                // Closed already: nothing left to reset.
            }
        }
        connection.Abort(abort);
    }
}
