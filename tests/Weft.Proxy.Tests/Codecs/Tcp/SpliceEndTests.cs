using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Weft.Protocol.Discovery;
using Weft.Proxy.Tests.Listeners;
using Weft.Proxy.Tests.Support;
using Weft.Proxy.Tests.Transport;

namespace Weft.Proxy.Tests.Codecs.Tcp;

using Protocol = Weft.Protocol.Discovery.Protocol;

/// <summary>
/// How a splice ends reaches both sides as it happened, for opaque TCP and for an upgraded tunnel
/// (WebSocket) alike: a FIN as a FIN, a reset as a reset, and a side that stops reading is no
/// progress: at the TCP idle timeout the splice is reset, its connections and its slot freed. The app
/// is a raw socket, so what it sees is exactly what the proxy sent.
/// </summary>
public sealed class SpliceEndTests
{
    private const string Tcp = "tcp";
    private const string WebSocket = "websocket";
    private static readonly TimeSpan IdleTimeout = TimeSpan.FromSeconds(2);
    private static readonly byte[] Chunk = new byte[64 * 1024];

    [Theory]
    [InlineData(Tcp)]
    [InlineData(WebSocket)]
    public async Task A_client_that_stops_reading_while_the_app_floods_is_reset_at_the_idle_timeout_and_others_are_served(string kind)
    {
        var floods = new List<Task<SocketError?>>();
        await using var app = RawServer.Start(async (socket, ct) =>
        {
            await AcceptTunnelAsync(socket, kind, ct);
            Task<SocketError?> flood;
            lock (floods)
                floods.Add(flood = FloodAsync(socket));
            await flood;
        });
        await using var echo = RawServer.Echo();
        await using var proxy = await TestProxy.StartAsync();
        int stuck = TestProxy.FreePort(), other = TestProxy.FreePort();
        // One connection per listener: the stalled splice holds its listener's only place until it ends.
        await proxy.ApplyOkAsync(Tunnel(new ConfigBuilder(), kind, stuck, app.Port)
            .Listener(other, "default/echo", protocol: Protocol.Tcp).Cluster("echo", Protocol.Tcp, (echo.Port, "v1"))
            .Settings(new ProxySettings { TcpIdleTimeoutMs = (uint)IdleTimeout.TotalMilliseconds, MaxConnectionsPerListener = 1 }).Build());

        var started = Stopwatch.StartNew();
        using var client = await OpenTunnelAsync(stuck, kind);    // and never reads again
        await Eventually.TrueAsync(() => Task.FromResult(FloodCount(floods) >= 1), "the app's flood started");
        var flooding = FloodOf(floods, 0);

        // The stalled splice holds nothing else up: another client is served meanwhile.
        using (var busy = await RawClient.ConnectAsync(other))
        {
            for (var i = 0; i < 5; i++)
            {
                await busy.SendAsync(Encoding.ASCII.GetBytes($"m{i}"));
                Assert.Equal($"m{i}", Encoding.ASCII.GetString(await RawClient.ReadAsync(busy, 2)));
            }
        }
        Assert.False(flooding.IsCompleted, "the splice ended before its idle timeout");

        // The app's send fails once the proxy resets its connection: the splice is over.
        var appEnd = await flooding.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.NotNull(appEnd);
        Assert.True(started.Elapsed >= IdleTimeout - TimeSpan.FromMilliseconds(100), $"closed after {started.Elapsed}, before the idle timeout");
        // The client gets what reached it, then a reset: bytes it never got must not look like a complete stream.
        Assert.Equal(SocketError.ConnectionReset, await ConnectionResetTests.EndAsync(client));

        // Its place is free again.
        await Eventually.TrueAsync(async () =>
        {
            try
            {
                using var next = await OpenTunnelAsync(stuck, kind);
                return (await RawClient.ReadAsync(next, 1, TimeSpan.FromSeconds(2))).Length == 1;
            }
            catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or Xunit.Sdk.XunitException)
            {
                return false;
            }
        }, "a new connection served on the stalled one's listener");
    }

    [Fact]
    public async Task An_app_that_stops_reading_while_the_client_floods_is_reset_at_the_idle_timeout()
    {
        var appEnd = new TaskCompletionSource<SocketError?>(TaskCreationOptions.RunContinuationsAsynchronously);
        var clientDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var app = RawServer.Start(async (socket, ct) =>
        {
            // Reads nothing until the client's flood has stopped, then what is left.
            await clientDone.Task.WaitAsync(TimeSpan.FromSeconds(30), ct);
            appEnd.TrySetResult(await ConnectionResetTests.EndAsync(socket));
        });
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(Tunnel(new ConfigBuilder(), Tcp, port, app.Port)
            .Settings(new ProxySettings { TcpIdleTimeoutMs = (uint)IdleTimeout.TotalMilliseconds }).Build());

        var started = Stopwatch.StartNew();
        using var client = await RawClient.ConnectAsync(port);
        var clientEnd = await FloodAsync(client).WaitAsync(TimeSpan.FromSeconds(20));
        clientDone.SetResult();
        Assert.NotNull(clientEnd);
        Assert.True(started.Elapsed >= IdleTimeout - TimeSpan.FromMilliseconds(100), $"closed after {started.Elapsed}, before the idle timeout");
        Assert.Equal(SocketError.ConnectionReset, await appEnd.Task.WaitAsync(TimeSpan.FromSeconds(20)));
    }

    [Theory]
    [InlineData(Tcp)]
    [InlineData(WebSocket)]
    public async Task A_client_that_resets_mid_tunnel_reaches_the_app_as_a_reset(string kind)
    {
        var appEnd = new TaskCompletionSource<SocketError?>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var app = RawServer.Start(async (socket, ct) =>
        {
            await AcceptTunnelAsync(socket, kind, ct);
            await EchoOnceAsync(socket, ct);
            appEnd.TrySetResult(await ConnectionResetTests.EndAsync(socket));
        });
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(Tunnel(new ConfigBuilder(), kind, port, app.Port).Build());

        var client = await OpenTunnelAsync(port, kind);
        await client.SendAsync("ping"u8.ToArray());
        Assert.Equal("ping", Encoding.ASCII.GetString(await RawClient.ReadAsync(client, 4)));
        client.LingerState = new LingerOption(true, 0);
        client.Close();

        // A zero-length read (FIN) would tell the app the client ended its stream in order.
        Assert.Equal(SocketError.ConnectionReset, await appEnd.Task.WaitAsync(TimeSpan.FromSeconds(20)));
    }

    [Theory]
    [InlineData(Tcp)]
    [InlineData(WebSocket)]
    public async Task An_app_that_resets_mid_tunnel_reaches_the_client_as_a_reset(string kind)
    {
        var clientHasEcho = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var app = RawServer.Start(async (socket, ct) =>
        {
            await AcceptTunnelAsync(socket, kind, ct);
            await EchoOnceAsync(socket, ct);
            await clientHasEcho.Task.WaitAsync(TimeSpan.FromSeconds(20), ct);
            socket.LingerState = new LingerOption(true, 0);
            socket.Close();
        });
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(Tunnel(new ConfigBuilder(), kind, port, app.Port).Build());

        using var client = await OpenTunnelAsync(port, kind);
        await client.SendAsync("ping"u8.ToArray());
        Assert.Equal("ping", Encoding.ASCII.GetString(await RawClient.ReadAsync(client, 4)));
        clientHasEcho.SetResult();

        Assert.Equal(SocketError.ConnectionReset, await ConnectionResetTests.EndAsync(client));
    }

    [Theory]
    [InlineData(Tcp)]
    [InlineData(WebSocket)]
    public async Task A_client_FIN_mid_tunnel_reaches_the_app_as_a_FIN_and_the_apps_FIN_reaches_the_client(string kind)
    {
        var appEnd = new TaskCompletionSource<SocketError?>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var app = RawServer.Start(async (socket, ct) =>
        {
            await AcceptTunnelAsync(socket, kind, ct);
            await EchoOnceAsync(socket, ct);
            appEnd.TrySetResult(await ConnectionResetTests.EndAsync(socket));
            socket.Shutdown(SocketShutdown.Send);
        });
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(Tunnel(new ConfigBuilder(), kind, port, app.Port).Build());

        using var client = await OpenTunnelAsync(port, kind);
        await client.SendAsync("ping"u8.ToArray());
        Assert.Equal("ping", Encoding.ASCII.GetString(await RawClient.ReadAsync(client, 4)));
        client.Shutdown(SocketShutdown.Send);

        Assert.Null(await appEnd.Task.WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.Null(await ConnectionResetTests.EndAsync(client));
    }

    [Theory]
    [InlineData(Tcp)]
    [InlineData(WebSocket)]
    public async Task An_app_FIN_mid_tunnel_reaches_the_client_as_a_FIN_after_its_last_bytes_and_the_clients_FIN_reaches_the_app(string kind)
    {
        var appEnd = new TaskCompletionSource<SocketError?>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var app = RawServer.Start(async (socket, ct) =>
        {
            await AcceptTunnelAsync(socket, kind, ct);
            await EchoOnceAsync(socket, ct);
            await socket.SendAsync("bye"u8.ToArray(), ct);
            socket.Shutdown(SocketShutdown.Send);
            appEnd.TrySetResult(await ConnectionResetTests.EndAsync(socket));
        });
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(Tunnel(new ConfigBuilder(), kind, port, app.Port).Build());

        using var client = await OpenTunnelAsync(port, kind);
        await client.SendAsync("ping"u8.ToArray());
        Assert.Equal("ping", Encoding.ASCII.GetString(await RawClient.ReadAsync(client, 4)));
        Assert.Equal("bye", Encoding.ASCII.GetString(await RawClient.ReadAsync(client, 3)));
        Assert.Null(await ConnectionResetTests.EndAsync(client));
        client.Shutdown(SocketShutdown.Send);

        Assert.Null(await appEnd.Task.WaitAsync(TimeSpan.FromSeconds(20)));
    }

    private static int FloodCount(List<Task<SocketError?>> floods)
    {
        lock (floods)
            return floods.Count;
    }

    private static Task<SocketError?> FloodOf(List<Task<SocketError?>> floods, int index)
    {
        lock (floods)
            return floods[index];
    }

    /// <summary>Sends until a send fails: how it failed (null if it never did, which cannot happen short of the deadline).</summary>
    private static async Task<SocketError?> FloodAsync(Socket socket)
    {
        try
        {
            while (true)
                await socket.SendAsync(Chunk, SocketFlags.None);
        }
        catch (SocketException e)
        {
            return e.SocketErrorCode;
        }
        catch (ObjectDisposedException)
        {
            return SocketError.OperationAborted;
        }
    }

    /// <summary>The tunnel's listener: declared TCP to the app's cluster, or HTTP with a route to it (a WebSocket is upgraded).</summary>
    private static ConfigBuilder Tunnel(ConfigBuilder config, string kind, int port, int appPort) => kind == Tcp
        ? config.Listener(port, "default/app", protocol: Protocol.Tcp).Cluster("app", Protocol.Tcp, (appPort, "v1"))
        : config.Listener(port).Routes("rt", ConfigBuilder.Route("app")).Cluster("app", appPort);

    /// <summary>A client connection through the proxy to the app, once the tunnel is open (a WebSocket after its 101).</summary>
    private static async Task<Socket> OpenTunnelAsync(int port, string kind)
    {
        var client = await RawClient.ConnectAsync(port);
        if (kind == WebSocket)
        {
            await client.SendAsync("GET /chat HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"u8.ToArray()
                .Concat("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"u8.ToArray()).ToArray());
            var head = await ReadHeadAsync(client, CancellationToken.None);
            Assert.StartsWith("HTTP/1.1 101", head);
        }
        return client;
    }

    /// <summary>The app's side: for a WebSocket, the upgrade request read and answered with 101; then raw bytes both ways.</summary>
    private static async Task AcceptTunnelAsync(Socket socket, string kind, CancellationToken ct)
    {
        if (kind != WebSocket)
            return;
        var head = await ReadHeadAsync(socket, ct);
        Assert.Contains("\r\nUpgrade: websocket\r\n", head, StringComparison.OrdinalIgnoreCase);
        await socket.SendAsync("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"u8.ToArray(), ct);
    }

    /// <summary>A head read a byte at a time, so nothing after it is consumed.</summary>
    private static async Task<string> ReadHeadAsync(Socket socket, CancellationToken ct)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(TimeSpan.FromSeconds(10));
        var head = new StringBuilder();
        var one = new byte[1];
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
        {
            if (await socket.ReceiveAsync(one, SocketFlags.None, deadline.Token) == 0)
                throw new IOException($"the connection ended after '{head}'");
            head.Append((char)one[0]);
        }
        return head.ToString();
    }

    private static async Task EchoOnceAsync(Socket socket, CancellationToken ct)
    {
        var ping = await RawClient.ReadAsync(socket, 4);
        await socket.SendAsync(ping, ct);
    }
}
