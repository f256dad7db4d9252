using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Http;
using Weft.Protocol.Discovery;
using Weft.Proxy.Tests.Codecs.Http1;
using Weft.Proxy.Tests.Support;

namespace Weft.Proxy.Tests.Upstream;

/// <summary>The HTTP/1.1 upstream pools: a per-endpoint connection limit, idle connections closed by the clock, pools of endpoints that left dropped.</summary>
public sealed class UpstreamPoolTests
{
    [Fact]
    public async Task Past_the_endpoint_connection_limit_requests_wait_for_a_connection_and_are_all_served()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var inside = 0;
        var connections = new HashSet<string>();
        await using var backend = await Backend.StartAsync("held", async ctx =>
        {
            lock (connections)
                connections.Add(ctx.Connection.Id);
            Interlocked.Increment(ref inside);
            if (ctx.Request.Path == "/hold")
                await release.Task;
            await ctx.Response.WriteAsync("done");
        });
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("held")).Cluster("held", backend.Port)
            .Settings(new ProxySettings { MaxUpstreamConnectionsPerEndpoint = 2 }).Build());

        var clients = Enumerable.Range(0, 5).Select(_ => TestProxy.Client(port)).ToList();
        var calls = clients.Select(c => c.GetStringAsync("/hold")).ToList();
        await Eventually.TrueAsync(() => Task.FromResult(Volatile.Read(ref inside) >= 2), "two requests inside the app");
        // The limit holds: the others wait for one of the two connections.
        await Task.Delay(300);
        Assert.Equal(2, Volatile.Read(ref inside));
        Assert.Equal(2, proxy.Host.UpstreamConnections);
        release.TrySetResult();
        foreach (var call in calls)
            Assert.Equal("done", await call);
        lock (connections)
            Assert.Equal(2, connections.Count);
        foreach (var c in clients)
            c.Dispose();
    }

    [Fact]
    public async Task Waiting_for_a_connection_ends_at_the_request_timeout()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = await Backend.StartAsync("held", async ctx =>
        {
            await release.Task;
            await ctx.Response.WriteAsync("done");
        });
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("held")).Cluster("held", backend.Port)
            .Settings(new ProxySettings { MaxUpstreamConnectionsPerEndpoint = 1, RequestTimeoutMs = 800 }).Build());
        using var first = TestProxy.Client(port);
        using var second = TestProxy.Client(port);
        var holding = first.GetAsync("/one");
        await Eventually.TrueAsync(() => Task.FromResult(proxy.Host.UpstreamConnections == 1), "the one connection taken");
        using var waited = await second.GetAsync("/two");
        Assert.Equal(HttpStatusCode.GatewayTimeout, waited.StatusCode);
        Assert.Equal("timeout", waited.Headers.GetValues("x-weft-reason").Single());
        release.TrySetResult();
        (await holding).Dispose();
    }

    [Fact]
    public async Task The_connections_of_a_burst_are_closed_within_the_upstream_idle_timeout()
    {
        await using var backend = await Backend.StartAsync("app", async ctx =>
        {
            await Task.Delay(200);
            await ctx.Response.WriteAsync("ok");
        });
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("app")).Cluster("app", backend.Port)
            .Settings(new ProxySettings { UpstreamIdleTimeoutMs = 1000 }).Build());
        using var warm = TestProxy.Client(port);
        Assert.Equal("ok", await warm.GetStringAsync("/"));
        await Eventually.TrueAsync(() => Task.FromResult(proxy.Host.UpstreamConnections == 0), "the warm-up connection closed");
        Assert.Equal(0, UpstreamSockets.ConnectedTo(backend.Port));

        // A burst of 40 concurrent requests: 40 upstream connections, one per request.
        var clients = Enumerable.Range(0, 40).Select(_ => TestProxy.Client(port)).ToList();
        await Task.WhenAll(clients.Select(c => c.GetStringAsync("/burst")));
        Assert.Equal(40, proxy.Host.UpstreamConnections);
        Assert.Equal(40, UpstreamSockets.ConnectedTo(backend.Port));
        foreach (var c in clients)
            c.Dispose();
        // The LIFO pool would keep the bottom ones forever; the clock closes all of them after 1 s idle.
        await Eventually.TrueAsync(() => Task.FromResult(proxy.Host.UpstreamConnections == 0), "the burst's upstream connections closed", TimeSpan.FromSeconds(5));
        await Eventually.TrueAsync(() => Task.FromResult(UpstreamSockets.ConnectedTo(backend.Port) == 0), "no descriptor of this process connected to the app", TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task The_pool_of_an_endpoint_that_left_the_config_is_dropped()
    {
        await using var a = await Backend.StartAsync("a");
        await using var b = await Backend.StartAsync("b");
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("app")).Cluster("app", a.Port).Build());
        using var client = TestProxy.Client(port);
        Assert.Contains("backend: a", await client.GetStringAsync("/"));
        Assert.Equal(1, proxy.Host.UpstreamConnections);
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("app")).Cluster("app", b.Port).Build(2));
        // The idle connection to a is closed at once, not after its idle timeout.
        await Eventually.TrueAsync(() => Task.FromResult(proxy.Host.UpstreamConnections == 0), "the pool of a dropped", TimeSpan.FromSeconds(3));
        Assert.Contains("backend: b", await client.GetStringAsync("/"));
    }

    [Fact]
    public async Task A_pooled_connection_that_received_bytes_nobody_asked_for_is_never_reused()
    {
        // An upstream that answers and then, a moment later, sends a second response nobody asked for.
        var connections = 0;
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var serving = Task.Run(async () =>
        {
            while (true)
            {
                Socket socket;
                try
                {
                    socket = await listener.AcceptSocketAsync();
                }
                catch (Exception)
                {
                    return;
                }
                var n = Interlocked.Increment(ref connections);
                _ = Task.Run(async () =>
                {
                    using var s = socket;
                    var buffer = new byte[4096];
                    while (await s.ReceiveAsync(buffer, SocketFlags.None) > 0)
                    {
                        await s.SendAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nconn {n}"));
                        await Task.Delay(100);
                        await s.SendAsync(Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstray"));
                    }
                });
            }
        });
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("app"))
            .Cluster("app", ((IPEndPoint)listener.LocalEndpoint).Port).Build());
        await using var client = await RawClient.ConnectAsync(port);
        await client.SendAsync("GET /1 HTTP/1.1\r\nHost: a\r\n\r\n");
        Assert.EndsWith("conn 1", await client.ReadResponseAsync());
        await Task.Delay(400);                                    // the stray bytes arrive while the connection idles
        await client.SendAsync("GET /2 HTTP/1.1\r\nHost: a\r\n\r\n");
        var second = await client.ReadResponseAsync();
        Assert.EndsWith("conn 2", second);
        Assert.DoesNotContain("stray", second);
        listener.Stop();
    }
}
