using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Http;
using Weft.Protocol.Discovery;
using Weft.Proxy.Tests.Support;

namespace Weft.Proxy.Tests.Codecs.Http1;

/// <summary>
/// The minimum body data rate, both ways: a client that uploads or reads slower than the minimum (past
/// the grace) loses its connection, and with it the upstream exchange and the app's work; other
/// clients are served meanwhile.
/// </summary>
public sealed class DataRateTests
{
    private static readonly ProxySettings Strict = new() { MinBodyBytesPerSecond = 50_000, MinBodyRateGraceMs = 1000 };

    [Fact]
    public async Task A_slow_upload_is_reset_and_the_app_is_released()
    {
        var appGaveUp = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = await Backend.StartAsync("sink", async ctx =>
        {
            if (ctx.Request.Path == "/upload")
            {
                try
                {
                    await ctx.Request.Body.CopyToAsync(Stream.Null, ctx.RequestAborted);
                }
                catch (Exception)
                {
                    appGaveUp.TrySetResult();
                    throw;
                }
            }
            await ctx.Response.WriteAsync("ok");
        });
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("sink")).Cluster("sink", backend.Port)
            .Settings(Strict).Build());

        await using var slow = await RawClient.ConnectAsync(port);
        await slow.SendAsync("POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n");
        var dribble = Task.Run(async () =>
        {
            try
            {
                for (var i = 0; i < 100; i++)
                {
                    await slow.SendAsync(new byte[10]);            // 50 B/s against a minimum of 50 KB/s
                    await Task.Delay(200);
                }
            }
            catch (Exception)
            {
                // Reset by the proxy: expected.
            }
        });
        using var other = TestProxy.Client(port);
        for (var i = 0; i < 5; i++)
            Assert.Equal("ok", await other.GetStringAsync("/fast"));

        await AssertResetAsync(slow, TimeSpan.FromSeconds(10));
        await appGaveUp.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await dribble;
        Assert.Equal("ok", await other.GetStringAsync("/after"));
    }

    [Fact]
    public async Task A_reader_that_stops_reading_is_reset_and_the_app_is_released()
    {
        var appGaveUp = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var chunk = new byte[64 * 1024];
        await using var backend = await Backend.StartAsync("source", async ctx =>
        {
            if (ctx.Request.Path != "/download")
            {
                await ctx.Response.WriteAsync("ok");
                return;
            }
            // Released: the app learns its client is gone (writes after that go nowhere).
            ctx.RequestAborted.Register(() => appGaveUp.TrySetResult());
            try
            {
                for (var i = 0; i < 1024; i++)                    // 64 MB: far more than every buffer between the two
                    await ctx.Response.Body.WriteAsync(chunk, ctx.RequestAborted);
            }
            catch (Exception)
            {
                appGaveUp.TrySetResult();
            }
        });
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("source")).Cluster("source", backend.Port)
            .Settings(Strict).Build());

        using var stalled = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await stalled.ConnectAsync(System.Net.IPAddress.Loopback, port);
        await stalled.SendAsync(Encoding.ASCII.GetBytes("GET /download HTTP/1.1\r\nHost: a\r\n\r\n"));
        // It reads the head and a little, then nothing.
        var some = new byte[1024];
        Assert.True(await stalled.ReceiveAsync(some) > 0);

        using var other = TestProxy.Client(port);
        for (var i = 0; i < 5; i++)
            Assert.Equal("ok", await other.GetStringAsync("/fast"));
        await appGaveUp.Task.WaitAsync(TimeSpan.FromSeconds(20));
        // What it reads now ends in a reset, not in a body that looks complete.
        await Assert.ThrowsAnyAsync<SocketException>(async () =>
        {
            var buffer = new byte[64 * 1024];
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            while (await stalled.ReceiveAsync(buffer, SocketFlags.None, deadline.Token) > 0)
            {
            }
        });
    }

    [Fact]
    public async Task A_slow_client_within_the_rate_is_served_whole()
    {
        await using var backend = await Backend.StartAsync("sink", async ctx =>
        {
            var length = 0L;
            var buffer = new byte[8192];
            int n;
            while ((n = await ctx.Request.Body.ReadAsync(buffer)) > 0)
                length += n;
            await ctx.Response.WriteAsync("got " + length);
        });
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("sink")).Cluster("sink", backend.Port)
            .Settings(new ProxySettings { MinBodyBytesPerSecond = 1000, MinBodyRateGraceMs = 1000 }).Build());
        await using var client = await RawClient.ConnectAsync(port);
        await client.SendAsync("POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 6000\r\n\r\n");
        for (var i = 0; i < 6; i++)
        {
            await client.SendAsync(new byte[1000]);               // 2000 B/s, over the minimum, for 3 s
            await Task.Delay(500);
        }
        var response = await client.ReadResponseAsync();
        Assert.StartsWith("HTTP/1.1 200", response);
        Assert.Contains("got 6000", response);
    }

    private static async Task AssertResetAsync(RawClient client, TimeSpan within)
    {
        try
        {
            var (text, closed) = await client.ReadToEndAsync(within);
            Assert.True(closed, "the slow client's connection was not closed");
            Assert.DoesNotContain("200 OK", text);
        }
        catch (SocketException)
        {
            // A reset: what the proxy sends.
        }
    }
}
