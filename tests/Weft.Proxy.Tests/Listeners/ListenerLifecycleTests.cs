using System.Net;
using Microsoft.AspNetCore.Http;
using Weft.Proxy.Tests.Support;

namespace Weft.Proxy.Tests.Listeners;

using Protocol = Weft.Protocol.Discovery.Protocol;

public sealed class ListenerLifecycleTests
{
    [Fact]
    public async Task Listeners_open_and_close_with_config_and_unchanged_ones_keep_their_connections()
    {
        await using var backend = await Backend.StartAsync("app");
        await using var proxy = await TestProxy.StartAsync();
        var first = TestProxy.FreePort();
        var second = TestProxy.FreePort();
        var config = new ConfigBuilder().Listener(first).Routes("rt", ConfigBuilder.Route("app")).Cluster("app", backend.Port);
        await proxy.ApplyOkAsync(config.Build(1));
        using var firstClient = TestProxy.Client(first);
        (await firstClient.GetAsync("/")).EnsureSuccessStatusCode();

        await proxy.ApplyOkAsync(config.Listener(second).Build(2));
        using var secondClient = TestProxy.Client(second);
        (await secondClient.GetAsync("/")).EnsureSuccessStatusCode();
        (await firstClient.GetAsync("/")).EnsureSuccessStatusCode();

        await proxy.ApplyOkAsync(config.Remove($"listener/127.0.0.1_{second}").Build(3));
        await Eventually.TrueAsync(async () =>
        {
            try
            {
                using var fresh = TestProxy.Client(second);
                await fresh.GetAsync("/");
                return false;
            }
            catch (HttpRequestException)
            {
                return true;
            }
        }, "removed listener refuses connections");
        (await firstClient.GetAsync("/")).EnsureSuccessStatusCode();

        // One keep-alive connection to the unchanged listener across three config changes.
        var metrics = await proxy.MetricsAsync();
        Assert.Contains($"weft_tcp_connections_opened_total{{listener_port=\"{first}\"}} 1\n", metrics);
        Assert.Contains($"weft_tcp_connections_closed_total{{listener_port=\"{second}\"}} 1\n", metrics);
    }

    [Fact]
    public async Task A_removed_listener_drains_its_in_flight_request()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var slow = await Backend.StartAsync("slow", async ctx =>
        {
            arrived.TrySetResult();
            await release.Task;
            await ctx.Response.WriteAsync("finished");
        });
        await using var proxy = await TestProxy.StartAsync();
        var keep = TestProxy.FreePort();
        var drop = TestProxy.FreePort();
        var config = new ConfigBuilder().Listener(keep).Listener(drop).Routes("rt", ConfigBuilder.Route("slow")).Cluster("slow", slow.Port);
        await proxy.ApplyOkAsync(config.Build(1));
        using var client = TestProxy.Client(drop);
        var inFlight = client.GetStringAsync("/");
        await arrived.Task.WaitAsync(TimeSpan.FromSeconds(10));

        await proxy.ApplyOkAsync(config.Remove($"listener/127.0.0.1_{drop}").Build(2));
        await Eventually.TrueAsync(async () =>
        {
            try
            {
                using var fresh = TestProxy.Client(drop);
                await fresh.GetAsync("/");
                return false;
            }
            catch (HttpRequestException)
            {
                return true;
            }
        }, "draining listener stops accepting");
        Assert.False(inFlight.IsCompleted);
        release.SetResult();
        Assert.Equal("finished", await inFlight.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task Tcp_listener_forwards_bytes()
    {
        await using var backend = await Backend.StartAsync("tcp-app");
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        // The TCP listener's "routeTable" argument names its cluster in the builder.
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port, routeTable: "default/db", protocol: Protocol.Tcp)
            .Cluster("db", backend.Port).Build());
        using var client = TestProxy.Client(port);
        using var response = await client.GetAsync("/through-l4");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var echo = await response.Content.ReadAsStringAsync();
        Assert.Contains("path: /through-l4", echo);
        // L4: the proxy does not touch HTTP headers.
        Assert.DoesNotContain("x-weft-source", echo);
    }
}

public sealed class NackedListenerTests
{
    [Fact]
    public async Task A_config_nacked_for_a_port_in_use_leaves_every_listener_of_the_last_good_one_serving()
    {
        await using var backend = await Backend.StartAsync("app");
        await using var proxy = await TestProxy.StartAsync();
        int moved = TestProxy.FreePort(), kept = TestProxy.FreePort();
        using var squatter = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        squatter.Start();
        var taken = ((System.Net.IPEndPoint)squatter.LocalEndpoint).Port;

        var good = new ConfigBuilder().Listener(moved).Listener(kept).Routes("rt", ConfigBuilder.Route("app")).Cluster("app", backend.Port);
        await proxy.ApplyOkAsync(good.Build(1));
        using var client = TestProxy.Client(moved);
        Assert.Contains("backend: app", await client.GetStringAsync("/before"));

        // The next config moves one listener to another address and adds one on a port someone else
        // holds: it cannot be applied, and nothing of the running config may go with it.
        var bad = new ConfigBuilder().Listener(moved, address: "127.0.0.2").Listener(kept).Listener(taken)
            .Routes("rt", ConfigBuilder.Route("app")).Cluster("app", backend.Port);
        var error = await proxy.ApplyAsync(bad.Build(2));
        Assert.NotNull(error);
        Assert.Contains($"cannot listen on 127.0.0.1:{taken}", error);

        // The old listeners serve: the connection open before, and new ones.
        Assert.Contains("backend: app", await client.GetStringAsync("/after"));
        using var fresh = TestProxy.Client(moved);
        Assert.Contains("backend: app", await fresh.GetStringAsync("/fresh"));
        using var other = TestProxy.Client(kept);
        Assert.Contains("backend: app", await other.GetStringAsync("/kept"));
        Assert.Contains("\"revision\": 1", await proxy.Admin.GetStringAsync("/config_dump"));
    }

    [Fact]
    public async Task A_config_whose_moved_listener_cannot_bind_rebinds_the_old_address()
    {
        await using var backend = await Backend.StartAsync("app");
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        // Someone else holds the new address's port, so the move fails after the old socket was given up.
        using var squatter = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Parse("127.0.0.3"), port);
        squatter.Start();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("app")).Cluster("app", backend.Port).Build(1));
        var error = await proxy.ApplyAsync(new ConfigBuilder().Listener(port, address: "127.0.0.3").Routes("rt", ConfigBuilder.Route("app"))
            .Cluster("app", backend.Port).Build(2));
        Assert.NotNull(error);
        using var client = TestProxy.Client(port);
        Assert.Contains("backend: app", await client.GetStringAsync("/still-here"));
    }
}
