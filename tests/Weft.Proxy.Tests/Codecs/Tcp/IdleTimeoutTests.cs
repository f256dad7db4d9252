using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using Weft.Protocol.Discovery;
using Weft.Proxy.Tests.Listeners;
using Weft.Proxy.Tests.Support;

namespace Weft.Proxy.Tests.Codecs.Tcp;

using Protocol = Weft.Protocol.Discovery.Protocol;

/// <summary>The TCP idle timeout: a spliced connection (TCP, TLS passthrough, an upgraded tunnel) with no byte either way is closed; a busy one lives on.</summary>
public sealed class IdleTimeoutTests
{
    [Fact]
    public async Task An_idle_tcp_connection_is_closed_and_a_busy_one_is_not()
    {
        await using var echo = RawServer.Echo();
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port, "default/echo", protocol: Protocol.Tcp).Cluster("echo", Protocol.Tcp, (echo.Port, "v1"))
            .Settings(new ProxySettings { TcpIdleTimeoutMs = 2000 }).Build());

        // 2 s: long enough that a loaded machine (the suite runs in parallel) never stalls the busy one
        // that long between two of its messages.
        using var idle = await RawClient.ConnectAsync(port);
        using var busy = await RawClient.ConnectAsync(port);
        await idle.SendAsync("hello"u8.ToArray());
        Assert.Equal("hello", Encoding.ASCII.GetString(await RawClient.ReadAsync(idle, 5)));

        // The busy one talks every 250 ms for 5 s, two and a half times the idle timeout.
        var busyRun = Task.Run(async () =>
        {
            for (var i = 0; i < 20; i++)
            {
                await busy.SendAsync(Encoding.ASCII.GetBytes($"m{i:D2}"));
                Assert.Equal($"m{i:D2}", Encoding.ASCII.GetString(await RawClient.ReadAsync(busy, 3)));
                await Task.Delay(250);
            }
        });
        // The idle one ends (FIN: a zero read) within the timeout and one heartbeat, give or take a loaded machine.
        var rest = await RawClient.ReadToEndAsync(idle, TimeSpan.FromSeconds(10));
        Assert.Empty(rest);
        await busyRun;
    }

    [Fact]
    public async Task An_idle_websocket_tunnel_is_closed_after_the_tcp_idle_timeout()
    {
        await using var app = await WebSocketApp.StartAsync();
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("ws")).Cluster("ws", app.Port)
            .Settings(new ProxySettings { TcpIdleTimeoutMs = 800 }).Build());
        using var ws = new ClientWebSocket();
        ws.Options.KeepAliveInterval = TimeSpan.Zero;
        await ws.ConnectAsync(new Uri($"ws://127.0.0.1:{port}/ws"), default);
        var buffer = new byte[4096];
        await ws.ReceiveAsync(buffer, default);          // the app's hello, then silence
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            var result = await ws.ReceiveAsync(buffer, deadline.Token);
            Assert.Equal(WebSocketMessageType.Close, result.MessageType);
        }
        catch (WebSocketException)
        {
            // The connection ended under the socket: what an idle close looks like to a client.
        }
        Assert.False(deadline.IsCancellationRequested, "the idle tunnel was not closed");
    }
}
