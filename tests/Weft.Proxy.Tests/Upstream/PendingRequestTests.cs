using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Http;
using Weft.Protocol.Discovery;
using Weft.Proxy.Tests.Codecs.Http1;
using Weft.Proxy.Tests.Support;

namespace Weft.Proxy.Tests.Upstream;

/// <summary>
/// Requests waiting for a connection to an endpoint at its connection limit: at most
/// maxPendingRequestsPerEndpoint of them (then 503 overflow at once), and one that stops waiting (its
/// deadline, its client leaving) gives its place up at once.
/// </summary>
public sealed class PendingRequestTests
{
    [Fact]
    public async Task Past_the_pending_limit_a_request_gets_503_overflow_at_once_while_the_waiting_ones_are_served_and_others_too()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var inside = 0;
        await using var slow = await Backend.StartAsync("slow", async ctx =>
        {
            Interlocked.Increment(ref inside);
            await release.Task;
            await ctx.Response.WriteAsync("slow done");
        });
        await using var fast = await Backend.StartAsync("fast", ctx => ctx.Response.WriteAsync("fast done"));
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port)
            .Routes("rt",
                ConfigBuilder.Route("default/fast", [ConfigBuilder.Prefix("/fast")], ("fast", 1)),
                ConfigBuilder.Route("default/slow", [ConfigBuilder.Prefix("/slow")], ("slow", 1)))
            .Cluster("slow", slow.Port).Cluster("fast", fast.Port)
            .Settings(new ProxySettings { MaxUpstreamConnectionsPerEndpoint = 1, MaxPendingRequestsPerEndpoint = 2 }).Build());

        var clients = Enumerable.Range(0, 4).Select(_ => TestProxy.Client(port)).ToList();
        // The first takes the endpoint's one connection; the next two wait for it.
        var held = clients[0].GetAsync("/slow/1");
        await Eventually.TrueAsync(() => Task.FromResult(Volatile.Read(ref inside) == 1), "the first request inside the app");
        var waiting = new[] { clients[1].GetAsync("/slow/2"), clients[2].GetAsync("/slow/3") };
        await Eventually.TrueAsync(() => Task.FromResult(UpstreamSockets.Waiting(proxy, "slow") == 2), "two requests waiting for the connection");

        // The fourth: no room to wait, answered at once.
        using var overflow = await clients[3].GetAsync("/slow/4").WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, overflow.StatusCode);
        Assert.Equal("overflow", overflow.Headers.GetValues("x-weft-reason").Single());
        Assert.Contains("too many requests waiting for a connection", await overflow.Content.ReadAsStringAsync());
        // Meanwhile other clients are served, and the held ones still wait.
        using (var other = TestProxy.Client(port))
            Assert.Equal("fast done", await other.GetStringAsync("/fast"));
        Assert.False(held.IsCompleted);
        Assert.All(waiting, w => Assert.False(w.IsCompleted));
        Assert.Equal(2, UpstreamSockets.Waiting(proxy, "slow"));

        release.TrySetResult();
        foreach (var call in waiting.Prepend(held))
        {
            using var response = await call;
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("slow done", await response.Content.ReadAsStringAsync());
        }
        // All on the one connection to the slow app, in turn.
        Assert.Equal(1, UpstreamSockets.ConnectedTo(slow.Port));
        Assert.Equal(0, UpstreamSockets.Waiting(proxy, "slow"));
        foreach (var c in clients)
            c.Dispose();
    }

    [Fact]
    public async Task A_request_whose_wait_timed_out_no_longer_counts_against_the_pending_limit()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = await Backend.StartAsync("held", async ctx =>
        {
            if (ctx.Request.Path == "/hold")
            {
                // The head goes at once (the request timeout is for it), the body when released: the one
                // connection stays busy past the others' deadline.
                await ctx.Response.StartAsync();
                await ctx.Response.Body.FlushAsync();
                await release.Task;
            }
            await ctx.Response.WriteAsync("done");
        });
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("held")).Cluster("held", backend.Port)
            .Settings(new ProxySettings { MaxUpstreamConnectionsPerEndpoint = 1, MaxPendingRequestsPerEndpoint = 1, RequestTimeoutMs = 2000 }).Build());
        using var first = TestProxy.Client(port);
        using var second = TestProxy.Client(port);
        using var third = TestProxy.Client(port);
        var holding = first.GetAsync("/hold");
        await Eventually.TrueAsync(() => Task.FromResult(proxy.Host.UpstreamConnections == 1), "the one connection taken");

        using (var timedOut = await second.GetAsync("/waits"))
        {
            Assert.Equal(HttpStatusCode.GatewayTimeout, timedOut.StatusCode);
            Assert.Equal("timeout", timedOut.Headers.GetValues("x-weft-reason").Single());
        }
        // Its place in line is free: the next request waits instead of being refused with 503 overflow.
        Assert.Equal(0, UpstreamSockets.Waiting(proxy, "held"));
        var after = third.GetAsync("/after");
        await Eventually.TrueAsync(() => Task.FromResult(UpstreamSockets.Waiting(proxy, "held") == 1 || after.IsCompleted), "the third request waiting");
        Assert.False(after.IsCompleted, "the third request was answered instead of waiting: " + (after.IsCompletedSuccessfully
            ? $"{(int)after.Result.StatusCode} {string.Join(",", after.Result.Headers.TryGetValues("x-weft-reason", out var r) ? r : [])}" : after.Exception?.Message));
        release.TrySetResult();
        using (var response = await holding)
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using (var response = await after)
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task A_waiting_request_whose_client_left_stops_waiting_and_frees_its_place()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = await Backend.StartAsync("held", async ctx =>
        {
            if (ctx.Request.Path == "/hold")
                await release.Task;
            await ctx.Response.WriteAsync("done");
        });
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        // The default request timeout (15 s) is far: only the client's leaving can end the wait in time.
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("held")).Cluster("held", backend.Port)
            .Settings(new ProxySettings { MaxUpstreamConnectionsPerEndpoint = 1, MaxPendingRequestsPerEndpoint = 1 }).Build());
        using var first = TestProxy.Client(port);
        var holding = first.GetAsync("/hold");
        await Eventually.TrueAsync(() => Task.FromResult(proxy.Host.UpstreamConnections == 1), "the one connection taken");

        var leaving = await RawClient.ConnectAsync(port);
        await leaving.SendAsync("GET /waits HTTP/1.1\r\nHost: a\r\n\r\n");
        await Eventually.TrueAsync(() => Task.FromResult(UpstreamSockets.Waiting(proxy, "held") == 1), "the request waiting");
        await leaving.DisposeAsync();
        await Eventually.TrueAsync(() => Task.FromResult(UpstreamSockets.Waiting(proxy, "held") == 0), "the wait ended when its client left",
            TimeSpan.FromSeconds(8));

        using var third = TestProxy.Client(port);
        var after = third.GetAsync("/after");
        await Eventually.TrueAsync(() => Task.FromResult(UpstreamSockets.Waiting(proxy, "held") == 1 || after.IsCompleted), "the next request waiting");
        Assert.False(after.IsCompleted, "the next request was answered instead of waiting");
        release.TrySetResult();
        using (var response = await holding)
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using (var response = await after)
            Assert.Equal("done", await response.Content.ReadAsStringAsync());
        // A client leaving is not the endpoint's fault.
        Assert.Contains("\"failures\": 0", await proxy.Admin.GetStringAsync("/clusters"));
    }

    [Fact]
    public async Task A_pending_limit_of_zero_is_refused_with_its_field()
    {
        await using var proxy = await TestProxy.StartAsync();
        var error = await proxy.ApplyAsync(new ConfigBuilder().Listener(TestProxy.FreePort()).Routes("rt", ConfigBuilder.Route("app")).Cluster("app", 1)
            .Settings(new ProxySettings { MaxPendingRequestsPerEndpoint = 0 }).Build());
        Assert.NotNull(error);
        Assert.Contains("max_pending_requests_per_endpoint: must be at least 1", error);
    }
}
