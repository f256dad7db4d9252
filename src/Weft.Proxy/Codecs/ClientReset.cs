using Microsoft.AspNetCore.Connections;

namespace Weft.Proxy.Codecs;

/// <summary>Ends a client connection with a reset, whatever transport carries it (a truncated answer must never look complete).</summary>
internal static class ClientReset
{
    public static void Abort(ConnectionContext connection) => Transport.ConnectionReset.Abort(connection, "reset by the proxy");
}
