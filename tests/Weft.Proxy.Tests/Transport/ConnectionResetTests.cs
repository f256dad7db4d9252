using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Weft.Proxy.Tests.Codecs.Http1;
using Weft.Proxy.Tests.Support;
using Weft.Proxy.Transport;

namespace Weft.Proxy.Tests.Transport;

/// <summary>
/// An aborted connection reaches the peer as a TCP reset, an orderly end as a FIN: to a client reading
/// a close-delimited body, a FIN after a truncated body would say the body is complete.
/// </summary>
public sealed class ConnectionResetTests
{
    private static readonly byte[] Partial = "HTTP/1.1 200 OK\r\n\r\npartial"u8.ToArray();

    /// <summary>Reads until <paramref name="text"/> has arrived.</summary>
    private static async Task ReceiveUntilAsync(Socket client, string text)
    {
        var received = new StringBuilder();
        var buffer = new byte[4096];
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!received.ToString().Contains(text, StringComparison.Ordinal))
        {
            var n = await client.ReceiveAsync(buffer, SocketFlags.None, deadline.Token);
            if (n == 0)
                throw new InvalidOperationException($"the connection ended after '{received}'");
            received.Append(Encoding.ASCII.GetString(buffer, 0, n));
        }
    }

    /// <summary>How the peer ended the connection: null for an orderly end (a 0-byte read), else the error of the read.</summary>
    internal static async Task<SocketError?> EndAsync(Socket client)
    {
        var buffer = new byte[64 * 1024];
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            while (await client.ReceiveAsync(buffer, SocketFlags.None, deadline.Token) > 0)
            {
            }
            return null;
        }
        catch (SocketException e)
        {
            return e.SocketErrorCode;
        }
    }

    [Fact]
    public async Task An_aborted_loop_connection_reaches_the_peer_as_a_reset_after_the_bytes_it_already_sent()
    {
        var (transport, listener, client, server) = await LoopPair.OpenAsync();
        using (transport)
        using (client)
        {
            await server.Transport.Output.WriteAsync(Partial);
            await ReceiveUntilAsync(client, "partial");
            server.Abort(new ConnectionAbortedException("the upstream failed midway"));
            Assert.Equal(SocketError.ConnectionReset, await EndAsync(client));
            await server.DisposeAsync();
            await listener.DisposeAsync();
        }
    }

    [Fact]
    public async Task Orderly_ends_of_a_loop_connection_stay_a_FIN()
    {
        var (transport, listener, client, server) = await LoopPair.OpenAsync();
        using (transport)
        using (client)
        {
            // Both sides completed.
            await server.Transport.Output.WriteAsync(Partial);
            await server.Transport.Input.CompleteAsync();
            await server.Transport.Output.CompleteAsync();
            Assert.Null(await EndAsync(client));
            await server.DisposeAsync();

            // DisposeAsync alone.
            using var second = new Socket(SocketType.Stream, ProtocolType.Tcp);
            await second.ConnectAsync((IPEndPoint)listener.EndPoint);
            var other = await listener.AcceptAsync() ?? throw new InvalidOperationException("no connection accepted");
            await other.Transport.Output.WriteAsync(Partial);
            await other.DisposeAsync();
            Assert.Null(await EndAsync(second));
            await listener.DisposeAsync();
        }
    }

    [Fact]
    public async Task ConnectionReset_resets_a_loop_connection()
    {
        var (transport, listener, client, server) = await LoopPair.OpenAsync();
        using (transport)
        using (client)
        {
            await server.Transport.Output.WriteAsync(Partial);
            await ReceiveUntilAsync(client, "partial");
            ConnectionReset.Abort(server, "the upstream failed midway");
            Assert.Equal(SocketError.ConnectionReset, await EndAsync(client));
            await server.DisposeAsync();
            await listener.DisposeAsync();
        }
    }

    [Fact]
    public async Task ConnectionReset_resets_a_connection_of_Kestrels_socket_transport()
    {
        var factory = new SocketTransportFactory(Options.Create(new SocketTransportOptions()), NullLoggerFactory.Instance);
        var listener = await factory.BindAsync(new IPEndPoint(IPAddress.Loopback, 0));
        using var client = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync((IPEndPoint)listener.EndPoint);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var server = await listener.AcceptAsync(timeout.Token) ?? throw new InvalidOperationException("no connection accepted");
        await server.Transport.Output.WriteAsync(Partial);
        await ReceiveUntilAsync(client, "partial");
        ConnectionReset.Abort(server, "the upstream failed midway");
        Assert.Equal(SocketError.ConnectionReset, await EndAsync(client));
        await server.DisposeAsync();
        await listener.DisposeAsync();
    }

    [Fact]
    public async Task A_close_delimited_response_cut_short_by_the_upstream_reaches_the_client_as_a_reset()
    {
        var clientHasPart = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var upstream = OneConnectionUpstream.Start(received => received.Contains("\r\n\r\n", StringComparison.Ordinal), async socket =>
        {
            // HTTP/1.0 without a length: the body ends where the connection does. It fails midway.
            await socket.SendAsync("HTTP/1.0 200 OK\r\nX-Up: 1\r\n\r\nthe first half"u8.ToArray());
            await clientHasPart.Task.WaitAsync(TimeSpan.FromSeconds(10));
            socket.LingerState = new LingerOption(true, 0);
            socket.Close();
        });
        await using var proxy = await TestProxy.StartAsync(options: new ProxyHostOptions { LoopTransport = true, ListenerDrainTimeout = TimeSpan.FromSeconds(10) });
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("app")).Cluster("app", upstream.Port).Build());

        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(IPAddress.Loopback, port);
        await client.SendAsync("GET /body HTTP/1.1\r\nHost: a\r\n\r\n"u8.ToArray(), SocketFlags.None);
        await ReceiveUntilAsync(client, "the first half");
        clientHasPart.SetResult();
        Assert.Equal(SocketError.ConnectionReset, await EndAsync(client));
    }
}
