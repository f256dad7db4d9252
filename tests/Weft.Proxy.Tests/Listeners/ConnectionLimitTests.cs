using System.Net.Sockets;
using Weft.Protocol.Discovery;
using Weft.Proxy.Tests.Codecs.Http1;
using Weft.Proxy.Tests.Support;

namespace Weft.Proxy.Tests.Listeners;

/// <summary>Connections per listener and per proxy: past a limit a new connection is refused at once; open ones keep being served.</summary>
public sealed class ConnectionLimitTests
{
    [Fact]
    public async Task A_connection_past_the_listener_limit_is_refused_and_the_open_ones_are_served()
    {
        await using var upstream = new RecordingUpstream();
        await using var proxy = await TestProxy.StartAsync();
        int limited = TestProxy.FreePort(), other = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(limited).Listener(other).Routes("rt", ConfigBuilder.Route("app")).Cluster("app", upstream.Port)
            .Settings(new ProxySettings { MaxConnectionsPerListener = 3 }).Build());

        var open = new List<Codecs.Http1.RawClient>();
        for (var i = 0; i < 3; i++)
        {
            var client = await Codecs.Http1.RawClient.ConnectAsync(limited);
            await client.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
            Assert.StartsWith("HTTP/1.1 200", await client.ReadResponseAsync());
            open.Add(client);
        }

        await AssertRefusedAsync(limited);
        // The open ones go on, and the other listener is not limited by this one's count.
        foreach (var client in open)
        {
            await client.SendAsync("GET /again HTTP/1.1\r\nHost: a\r\n\r\n");
            Assert.StartsWith("HTTP/1.1 200", await client.ReadResponseAsync());
        }
        await using (var elsewhere = await Codecs.Http1.RawClient.ConnectAsync(other))
        {
            await elsewhere.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
            Assert.StartsWith("HTTP/1.1 200", await elsewhere.ReadResponseAsync());
        }
        Assert.True(await proxy.MetricAsync($"weft_tcp_connections_rejected_total{{listener_port=\"{limited}\"}}") >= 1);

        // A place freed is a place taken again.
        await open[0].DisposeAsync();
        await Eventually.TrueAsync(async () =>
        {
            try
            {
                await using var next = await Codecs.Http1.RawClient.ConnectAsync(limited);
                await next.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
                return (await next.ReadResponseAsync(TimeSpan.FromSeconds(2))).StartsWith("HTTP/1.1 200", StringComparison.Ordinal);
            }
            catch (Exception ex) when (ex is IOException or SocketException or TimeoutException or OperationCanceledException)
            {
                return false;
            }
        }, "a new connection served once one closed");
        foreach (var client in open.Skip(1))
            await client.DisposeAsync();
    }

    [Fact]
    public async Task A_connection_past_the_proxy_limit_is_refused_on_any_listener()
    {
        await using var upstream = new RecordingUpstream();
        await using var proxy = await TestProxy.StartAsync();
        int a = TestProxy.FreePort(), b = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(a).Listener(b).Routes("rt", ConfigBuilder.Route("app")).Cluster("app", upstream.Port)
            .Settings(new ProxySettings { MaxConnections = 2 }).Build());

        await using var first = await Codecs.Http1.RawClient.ConnectAsync(a);
        await first.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 200", await first.ReadResponseAsync());
        await using var second = await Codecs.Http1.RawClient.ConnectAsync(b);
        await second.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 200", await second.ReadResponseAsync());

        await AssertRefusedAsync(b);
        await first.SendAsync("GET /still HTTP/1.1\r\nHost: a\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 200", await first.ReadResponseAsync());
    }

    /// <summary>A refused connection is reset before any answer: the request gets nothing.</summary>
    /// <summary>A refused connection is reset: at the connect already (the reset can beat it), at the send, or at the read.</summary>
    private static async Task AssertRefusedAsync(int port)
    {
        Codecs.Http1.RawClient refused;
        try
        {
            refused = await Codecs.Http1.RawClient.ConnectAsync(port);
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
        {
            return;
        }
        await using var _ = refused;
        try
        {
            await refused.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        }
        catch (SocketException)
        {
            return;
        }
        try
        {
            var (text, closed) = await refused.ReadToEndAsync(TimeSpan.FromSeconds(5));
            Assert.Equal("", text);
            Assert.True(closed);
        }
        catch (SocketException)
        {
            // Reset: what a refusal looks like.
        }
    }
}
