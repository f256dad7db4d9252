using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Http;
using Weft.Protocol.Discovery;
using Weft.Proxy.Config;
using Weft.Proxy.Tests.Support;

namespace Weft.Proxy.Tests.Config;

using Protocol = Weft.Protocol.Discovery.Protocol;

public sealed class ConfigApplyTests
{
    private static IReadOnlyList<string> Errors(ProxyResources resources) => new RuntimeBuilder().Build(resources, ProxyRuntime.Empty).Errors;

    [Fact]
    public void Bad_regex_is_rejected_with_resource_and_field_path()
    {
        var errors = Errors(new ConfigBuilder().Routes("default/catalog",
            ConfigBuilder.Route("r", [ConfigBuilder.Prefix("/ok"), ConfigBuilder.Regex("(")], ("catalog", 1))).Build());
        var error = Assert.Single(errors);
        Assert.StartsWith("route/default/catalog: routes[0].matches[1].path: invalid regex \"(\": ", error);
    }

    [Fact]
    public void Backtracking_only_regex_constructs_are_rejected()
    {
        var match = ConfigBuilder.Prefix("/");
        match.Headers.Add(new HeaderMatch { Name = "x-id", Kind = HeaderMatch.Types.Kind.Regex, Value = @"(a)\1" });
        var error = Assert.Single(Errors(new ConfigBuilder().Routes("rt", ConfigBuilder.Route("r", [match], ("c", 1))).Build()));
        Assert.StartsWith("route/rt: routes[0].matches[0].headers[0].value: unsupported regex \"(a)\\1\": ", error);
    }

    [Fact]
    public void Resource_key_must_match_the_resource()
    {
        var resources = new ProxyResources(1, "v1", System.Collections.Immutable.ImmutableDictionary<string, Resource>.Empty
            .Add("cluster/wrong", new Resource { Name = "default/catalog", Cluster = new Cluster { Service = "catalog" } })
            .Add("listener/empty", new Resource { Name = "empty" }));
        var errors = Errors(resources);
        Assert.Contains("cluster/wrong: key does not match the resource, expected \"cluster/default/catalog\"", errors);
        Assert.Contains("listener/empty: unknown resource kind", errors);
    }

    [Fact]
    public void Every_malformed_value_is_reported_at_once()
    {
        var badHeader = ConfigBuilder.Prefix("/");
        badHeader.Headers.Add(new HeaderMatch { Name = "bad name", Value = "x" });
        var resources = new ConfigBuilder()
            .Listener(0)
            .Listener(8080).Listener(8080, address: "0.0.0.0")
            .Add(new Resource { Name = "odd", Listener = new Listener { Address = "127.0.0.1", Port = 9000, Protocol = (Protocol)42, RouteTable = "rt" } })
            .Routes("rt", ConfigBuilder.Route("r", [badHeader, ConfigBuilder.Prefix("nope")], ("catalog", 1)))
            .Cluster("catalog", 0)
            .Build();
        var errors = Errors(resources);
        Assert.Contains(errors, e => e == "listener/127.0.0.1_0: port: 0 is not a valid port");
        Assert.Contains(errors, e => e.StartsWith("listener/") && e.Contains(": port: 8080 is already used by listener/"));
        Assert.Contains(errors, e => e == "listener/odd: protocol: unknown protocol 42");
        Assert.Contains(errors, e => e == "route/rt: routes[0].matches[0].headers[0].name: invalid header name \"bad name\"");
        Assert.Contains(errors, e => e == "route/rt: routes[0].matches[1].path: prefix \"nope\" must start with '/'");
        Assert.Contains(errors, e => e == "endpoints/default/catalog: endpoints[0].port: 0 is not a valid port");
        Assert.Equal(6, errors.Count);
    }

    [Fact]
    public void Missing_cluster_is_accepted_as_backend_not_found()
    {
        Assert.Empty(Errors(new ConfigBuilder().Listener(8080).Routes("rt", ConfigBuilder.Route("absent")).Build()));
    }

    [Fact]
    public async Task Nack_leaves_the_previous_config_serving()
    {
        await using var backend = await Backend.StartAsync("good");
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        var good = new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("good")).Cluster("good", backend.Port);
        await proxy.ApplyOkAsync(good.Build(1));

        var otherPort = TestProxy.FreePort();
        var bad = good.Routes("rt", ConfigBuilder.Route("r", [ConfigBuilder.Regex("(")], ("good", 1))).Listener(otherPort);
        var reason = await proxy.ApplyAsync(bad.Build(2));
        Assert.NotNull(reason);
        Assert.StartsWith("route/rt: routes[0].matches[0].path: invalid regex \"(\"", reason);

        using var client = TestProxy.Client(port);
        using var response = await client.GetAsync("/still");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("\"revision\": 1,", await proxy.Admin.GetStringAsync("/config_dump"));
        Assert.Contains("weft_config_revision 1\n", await proxy.MetricsAsync());
        // Nothing of the rejected config took effect, not even its new listener.
        await Assert.ThrowsAsync<HttpRequestException>(() => TestProxy.Client(otherPort).GetAsync("/"));
    }

    [Fact]
    public async Task Bind_failure_rejects_naming_the_port_and_changes_nothing()
    {
        await using var backend = await Backend.StartAsync("good");
        using var squatter = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        squatter.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        squatter.Listen();
        var taken = ((IPEndPoint)squatter.LocalEndPoint!).Port;

        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        var fresh = TestProxy.FreePort();
        var config = new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("good")).Cluster("good", backend.Port);
        await proxy.ApplyOkAsync(config.Build(1));
        var reason = await proxy.ApplyAsync(config.Listener(fresh).Listener(taken).Build(2));
        Assert.NotNull(reason);
        Assert.Contains($"port: cannot listen on 127.0.0.1:{taken}", reason);
        // The other new listener of the rejected config was closed again.
        await Assert.ThrowsAsync<HttpRequestException>(() => TestProxy.Client(fresh).GetAsync("/"));
        using var response = await TestProxy.Client(port).GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task A_config_change_does_not_break_a_request_in_flight()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var slow = await Backend.StartAsync("slow", async ctx =>
        {
            await ctx.Response.WriteAsync("part1;");
            await ctx.Response.Body.FlushAsync();
            arrived.TrySetResult();
            await release.Task;
            await ctx.Response.WriteAsync("part2");
        });
        await using var other = await Backend.StartAsync("other");
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("slow")).Cluster("slow", slow.Port).Build(1));
        using var client = TestProxy.Client(port);
        var inFlight = client.GetStringAsync("/");
        await arrived.Task.WaitAsync(TimeSpan.FromSeconds(10));

        // Route now goes elsewhere and the old cluster is gone entirely.
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("other")).Cluster("other", other.Port).Build(2));
        using (var next = await client.GetAsync("/"))
            Assert.Equal("other", Assert.Single(next.Headers.GetValues("x-backend")));

        release.SetResult();
        Assert.Equal("part1;part2", await inFlight.WaitAsync(TimeSpan.FromSeconds(10)));
    }
}
