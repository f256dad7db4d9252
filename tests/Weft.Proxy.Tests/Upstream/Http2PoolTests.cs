using Microsoft.AspNetCore.Http;
using Weft.Protocol.Discovery;
using Weft.Proxy.Tests.Support;

namespace Weft.Proxy.Tests.Upstream;

using Protocol = Weft.Protocol.Discovery.Protocol;

/// <summary>
/// The HTTP/2 upstream connections (http2 and grpc services), seen from the sockets: closed after the
/// upstream idle timeout, dropped with their endpoint when it leaves the config, without cutting a
/// stream short.
/// </summary>
public sealed class Http2PoolTests
{
    [Fact]
    public async Task An_idle_h2c_upstream_connection_is_closed_after_the_upstream_idle_timeout()
    {
        await using var backend = await Backend.StartAsync("h2app", http2Only: true);
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("h2app"))
            .Cluster("h2app", Protocol.Http2, (backend.Port, "v1"))
            .Settings(new ProxySettings { UpstreamIdleTimeoutMs = 1000 }).Build());
        using var client = TestProxy.Client(port);
        Assert.Contains("backend: h2app", await client.GetStringAsync("/"));
        Assert.Equal(1, UpstreamSockets.ConnectedTo(backend.Port));
        // Closed by the handler's sweep within a second of the timeout (90 s before it followed the setting).
        await Eventually.TrueAsync(() => Task.FromResult(UpstreamSockets.ConnectedTo(backend.Port) == 0), "the idle h2c connection closed",
            TimeSpan.FromSeconds(10));
        Assert.Contains("backend: h2app", await client.GetStringAsync("/again"));
    }

    [Fact]
    public async Task Requests_in_flight_share_h2c_connections_one_more_only_when_the_open_ones_carry_all_the_streams_the_app_allows()
    {
        // Kestrel's default: 100 streams per connection. 150 held requests need two connections, not 150.
        const int held = 150;
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var inside = 0;
        await using var backend = await Backend.StartAsync("h2app", async ctx =>
        {
            Interlocked.Increment(ref inside);
            await release.Task;
            await ctx.Response.WriteAsync("done");
        }, http2Only: true);
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("h2app"))
            .Cluster("h2app", Protocol.Http2, (backend.Port, "v1")).Build());
        var clients = Enumerable.Range(0, held).Select(_ => TestProxy.Client(port)).ToList();
        var calls = clients.Select(c => c.GetStringAsync("/")).ToList();
        await Eventually.TrueAsync(() => Task.FromResult(Volatile.Read(ref inside) == held), "every request inside the app", TimeSpan.FromSeconds(20));
        Assert.Equal(2, UpstreamSockets.ConnectedTo(backend.Port));
        release.TrySetResult();
        Assert.All(await Task.WhenAll(calls), body => Assert.Equal("done", body));
        foreach (var c in clients)
            c.Dispose();
    }

    [Fact]
    public async Task The_h2c_pool_of_an_endpoint_that_left_the_config_is_dropped()
    {
        await using var a = await Backend.StartAsync("a", http2Only: true);
        await using var b = await Backend.StartAsync("b", http2Only: true);
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("app"))
            .Cluster("app", Protocol.Http2, (a.Port, "v1")).Build());
        using var client = TestProxy.Client(port);
        Assert.Contains("backend: a", await client.GetStringAsync("/"));
        Assert.Equal(1, UpstreamSockets.ConnectedTo(a.Port));

        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("app"))
            .Cluster("app", Protocol.Http2, (b.Port, "v1")).Build(2));
        // At once, not after the 90 s idle timeout.
        await Eventually.TrueAsync(() => Task.FromResult(UpstreamSockets.ConnectedTo(a.Port) == 0), "the connection to a closed", TimeSpan.FromSeconds(5));
        Assert.Contains("backend: b", await client.GetStringAsync("/"));
    }

    [Fact]
    public async Task A_stream_in_flight_when_its_endpoint_leaves_the_config_is_finished_then_its_connection_closes()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var a = await Backend.StartAsync("a", async ctx =>
        {
            await ctx.Response.WriteAsync("first\n");
            await ctx.Response.Body.FlushAsync();
            await release.Task;
            await ctx.Response.WriteAsync("second\n");
        }, http2Only: true);
        await using var b = await Backend.StartAsync("b", http2Only: true);
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("app"))
            .Cluster("app", Protocol.Http2, (a.Port, "v1")).Build());
        using var client = TestProxy.Client(port);
        using var response = await client.GetAsync("/stream", HttpCompletionOption.ResponseHeadersRead);
        var body = new StreamReader(await response.Content.ReadAsStreamAsync());
        Assert.Equal("first", await body.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10)));

        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("app"))
            .Cluster("app", Protocol.Http2, (b.Port, "v1")).Build(2));
        using (var other = TestProxy.Client(port))
            Assert.Contains("backend: b", await other.GetStringAsync("/"));
        Assert.Equal(1, UpstreamSockets.ConnectedTo(a.Port));      // busy: it stays until its stream ends

        release.TrySetResult();
        Assert.Equal("second", await body.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Null(await body.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10)));
        await Eventually.TrueAsync(() => Task.FromResult(UpstreamSockets.ConnectedTo(a.Port) == 0), "the connection to a closed after its stream",
            TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task A_changed_upstream_idle_timeout_applies_to_h2c_pools_at_once()
    {
        await using var backend = await Backend.StartAsync("h2app", http2Only: true);
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        var config = new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("h2app")).Cluster("h2app", Protocol.Http2, (backend.Port, "v1"));
        await proxy.ApplyOkAsync(config.Build());
        using var client = TestProxy.Client(port);
        Assert.Contains("backend: h2app", await client.GetStringAsync("/"));
        Assert.Equal(1, UpstreamSockets.ConnectedTo(backend.Port));

        // Its handler was made with the old timeout (90 s): a new one takes over and the idle connection closes.
        await proxy.ApplyOkAsync(config.Settings(new ProxySettings { UpstreamIdleTimeoutMs = 60_000 }).Build(2));
        await Eventually.TrueAsync(() => Task.FromResult(UpstreamSockets.ConnectedTo(backend.Port) == 0), "the idle connection of the old handler closed",
            TimeSpan.FromSeconds(5));
        Assert.Contains("backend: h2app", await client.GetStringAsync("/again"));
        Assert.Equal(1, UpstreamSockets.ConnectedTo(backend.Port));
    }
}
