using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Http;
using Weft.Proxy.Tests.Support;
using Weft.Proxy.Tests.Transport;

namespace Weft.Proxy.Tests.Pipeline;

/// <summary>
/// A client that leaves while its request is with the app (nobody reads its connection then) is heard
/// at once, on either transport: its upstream exchange is reset, so the app stops working for nobody.
/// On Weft's own transport a FIN counts as leaving only when nothing the client sent is still unread
/// (a pipelined request), as nginx decides it.
/// </summary>
public sealed class ClientLeftTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_client_that_leaves_while_the_app_works_has_its_upstream_exchange_reset(bool reset)
    {
        var inside = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var aborted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = await Backend.StartAsync("slow", async ctx =>
        {
            ctx.RequestAborted.Register(() => aborted.TrySetResult());
            inside.TrySetResult();
            await Task.Delay(TimeSpan.FromSeconds(30), ctx.RequestAborted);
            await ctx.Response.WriteAsync("too late");
        });
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("slow")).Cluster("slow", backend.Port).Build());

        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(IPAddress.Loopback, port);
        await client.SendAsync(Encoding.ASCII.GetBytes("GET /work HTTP/1.1\r\nHost: a\r\n\r\n"), SocketFlags.None);
        await inside.Task.WaitAsync(TimeSpan.FromSeconds(10));
        if (reset)
        {
            client.LingerState = new LingerOption(true, 0);
            client.Close();
        }
        else
        {
            client.Shutdown(SocketShutdown.Send);
        }
        // Far sooner than the request timeout (15 s), which would end it too.
        await aborted.Task.WaitAsync(TimeSpan.FromSeconds(5));
        // Leaving is the client's doing, not the endpoint's.
        Assert.Contains("\"failures\": 0", await proxy.Admin.GetStringAsync("/clusters"));
    }

    [Fact]
    public async Task A_client_that_ends_its_body_short_with_a_FIN_has_its_upstream_exchange_reset()
    {
        var reading = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var ended = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = await Backend.StartAsync("upload", async ctx =>
        {
            var buffer = new byte[1024];
            try
            {
                while (await ctx.Request.Body.ReadAsync(buffer, ctx.RequestAborted) > 0)
                    reading.TrySetResult();
                ended.TrySetResult("the body ended in order");
            }
            catch (Exception ex)
            {
                // Its request reset (an abort, or Kestrel's "unexpected end" of the body it was reading).
                ended.TrySetResult("cut off: " + ex.GetType().Name);
            }
        });
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("upload")).Cluster("upload", backend.Port).Build());

        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(IPAddress.Loopback, port);
        await client.SendAsync(Encoding.ASCII.GetBytes("POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n" + new string('x', 1000)), SocketFlags.None);
        await reading.Task.WaitAsync(TimeSpan.FromSeconds(10));
        client.Shutdown(SocketShutdown.Send);
        // Not left waiting for bytes that never come until the request timeout (15 s).
        Assert.StartsWith("cut off: ", await ended.Task.WaitAsync(TimeSpan.FromSeconds(5)));
    }

    [LoopTransportFact("Kestrel's transport takes any FIN as the client leaving, even behind a pipelined request")]
    public async Task A_FIN_behind_a_pipelined_request_is_no_leaving_both_are_answered()
    {
        await using var backend = await Backend.StartAsync("app", async ctx =>
        {
            await Task.Delay(200);
            await ctx.Response.WriteAsync("answer " + ctx.Request.Path);
        });
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("app")).Cluster("app", backend.Port).Build());

        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(IPAddress.Loopback, port);
        await client.SendAsync(Encoding.ASCII.GetBytes("GET /one HTTP/1.1\r\nHost: a\r\n\r\nGET /two HTTP/1.1\r\nHost: a\r\n\r\n"), SocketFlags.None);
        client.Shutdown(SocketShutdown.Send);

        var received = new StringBuilder();
        var buffer = new byte[4096];
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        int n;
        while ((n = await client.ReceiveAsync(buffer, SocketFlags.None, deadline.Token)) > 0)
            received.Append(Encoding.ASCII.GetString(buffer, 0, n));
        var text = received.ToString();
        Assert.Contains("answer /one", text);
        Assert.Contains("answer /two", text);
    }
}
