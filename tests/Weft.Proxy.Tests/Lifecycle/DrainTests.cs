using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Http;
using Weft.Proxy.Tests.Support;

namespace Weft.Proxy.Tests.Lifecycle;

/// <summary>ProxyHost.StopAsync: readiness off, HTTP/1 told to close, in-flight requests finish up to the deadline.</summary>
public sealed class DrainTests
{
    [Fact]
    public async Task While_draining_a_new_request_on_an_existing_keep_alive_connection_gets_Connection_close()
    {
        await using var backend = await Backend.StartAsync("app");
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("app")).Cluster("app", backend.Port).Build());
        var connects = 0;
        using var client = CountingClient(port, () => Interlocked.Increment(ref connects));

        using (var before = await client.GetAsync("/"))
            Assert.False(before.Headers.ConnectionClose ?? false);

        // The drain signal alone (listeners still open): the Kestrel path must honour it.
        Assert.True(proxy.Host.State.BeginDrain());
        using (var during = await client.GetAsync("/"))
        {
            Assert.Equal(HttpStatusCode.OK, during.StatusCode);
            Assert.True(during.Headers.ConnectionClose, "no Connection: close while draining");
        }
        Assert.Equal(1, connects);
        using var next = await client.GetAsync("/");
        Assert.Equal(2, connects);   // the closed connection was not reused
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await proxy.Admin.GetAsync("/ready")).StatusCode);
    }

    [Fact]
    public async Task A_proxy_answer_while_draining_carries_Connection_close()
    {
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        // A route to a cluster with no endpoints: the proxy answers 503 no_endpoints itself.
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("app")).Cluster("app").Build());
        proxy.Host.State.BeginDrain();
        using var client = TestProxy.Client(port);
        using var response = await client.GetAsync("/");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("no_endpoints", response.Headers.GetValues("x-weft-reason").Single());
        Assert.True(response.Headers.ConnectionClose);
    }

    [Fact]
    public async Task Stop_returns_as_soon_as_in_flight_requests_finish_and_reports_draining_meanwhile()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = await Backend.StartAsync("slow", async ctx =>
        {
            arrived.TrySetResult();
            await release.Task;
            await ctx.Response.WriteAsync("finished");
        });
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("slow")).Cluster("slow", backend.Port).Build());
        using var client = TestProxy.Client(port);
        var inFlight = client.GetAsync("/");
        await arrived.Task.WaitAsync(TimeSpan.FromSeconds(10));

        var clock = Stopwatch.StartNew();
        var stopping = proxy.Host.StopAsync(TimeSpan.FromSeconds(30));
        var ready = await proxy.Admin.GetAsync("/ready");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        Assert.Equal("draining\n", await ready.Content.ReadAsStringAsync());
        await Eventually.TrueAsync(async () =>
        {
            try
            {
                using var fresh = new TcpClient();
                await fresh.ConnectAsync(IPAddress.Loopback, port);
                return false;
            }
            catch (SocketException) { return true; }
        }, "the listener stops accepting");
        Assert.False(stopping.IsCompleted, "stopped while a request was in flight");

        release.SetResult();
        using var response = await inFlight.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("finished", await response.Content.ReadAsStringAsync());
        Assert.True(response.Headers.ConnectionClose);
        await stopping.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"stop took {clock.Elapsed} though the request finished");
    }

    [Fact]
    public async Task Stop_aborts_what_is_still_running_at_the_deadline()
    {
        var arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = await Backend.StartAsync("stuck", async ctx =>
        {
            arrived.TrySetResult();
            await never.Task;
        });
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("stuck")).Cluster("stuck", backend.Port).Build());
        using var client = TestProxy.Client(port);
        var inFlight = client.GetAsync("/");
        await arrived.Task.WaitAsync(TimeSpan.FromSeconds(10));

        var clock = Stopwatch.StartNew();
        await proxy.Host.StopAsync(TimeSpan.FromSeconds(1)).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"stop took {clock.Elapsed} with a 1 s deadline");
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => inFlight.WaitAsync(TimeSpan.FromSeconds(10)));
        never.SetResult();   // lets the backend stop at once
    }

    private static HttpClient CountingClient(int port, Action connected) => new(new SocketsHttpHandler
    {
        UseProxy = false,
        ConnectCallback = async (ctx, ct) =>
        {
            connected();
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await socket.ConnectAsync(ctx.DnsEndPoint, ct);
            return new NetworkStream(socket, ownsSocket: true);
        },
    })
    { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
}
