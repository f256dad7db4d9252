using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Weft.Proxy.Transport;

namespace Weft.Proxy.Tests.Transport;

/// <summary>A loop transport with one loop, a listener on it, a plain client socket and the server side of its connection.</summary>
internal static class LoopPair
{
    public static async Task<(LoopTransport Transport, IConnectionListener Listener, Socket Client, ConnectionContext Server)> OpenAsync(bool sendBatch = true)
    {
        var transport = new LoopTransport(1, sendBatch);
        var listener = await transport.BindAsync(new IPEndPoint(IPAddress.Loopback, 0));
        var client = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync((IPEndPoint)listener.EndPoint);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var server = await listener.AcceptAsync(timeout.Token) ?? throw new InvalidOperationException("no connection accepted");
        return (transport, listener, client, server);
    }
}
