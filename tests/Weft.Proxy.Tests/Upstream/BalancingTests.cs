using System.Net;
using Weft.Proxy.Upstream;
using Weft.Proxy.Tests.Support;

namespace Weft.Proxy.Tests.Upstream;

public sealed class BalancingTests
{
    [Fact]
    public void Round_robin_cycles_and_survives_counter_wraparound()
    {
        var endpoints = Enumerable.Range(0, 3).Select(i => new EndpointRuntime("127.0.0.1", 1000 + i, "e" + i, "s", "v1", new EndpointStats())).ToArray();
        var rr = new RoundRobinBalancer();
        Assert.Equal([0, 1, 2, 0, 1, 2], Enumerable.Range(0, 6).Select(_ => rr.PickStart(endpoints)).ToArray());
        var wrapping = new RoundRobinBalancer(int.MaxValue - 1);
        for (var i = 0; i < 10; i++)
            Assert.InRange(wrapping.PickStart(endpoints), 0, 2);
    }

    [Fact]
    public async Task Requests_alternate_across_two_endpoints()
    {
        await using var a = await Backend.StartAsync("a");
        await using var b = await Backend.StartAsync("b");
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("catalog"))
            .Cluster("catalog", a.Port, b.Port).Build());
        using var client = TestProxy.Client(port);
        var served = new List<string>();
        for (var i = 0; i < 10; i++)
        {
            using var response = await client.GetAsync("/");
            served.Add(Assert.Single(response.Headers.GetValues("x-backend")));
        }
        Assert.Equal(5, a.Requests);
        Assert.Equal(5, b.Requests);
        for (var i = 1; i < served.Count; i++)
            Assert.NotEqual(served[i - 1], served[i]);
    }

    [Fact]
    public async Task Weighted_split_sends_everything_to_the_only_weighted_backend()
    {
        await using var v1 = await Backend.StartAsync("v1");
        await using var v2 = await Backend.StartAsync("v2");
        await using var proxy = await TestProxy.StartAsync(options: new ProxyHostOptions { Random = new Random(7) });
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port)
            .Routes("rt", ConfigBuilder.Route("split", null, ("catalog-v1", 0), ("catalog-v2", 100)))
            .Cluster("catalog-v1", v1.Port).Cluster("catalog-v2", v2.Port).Build());
        using var client = TestProxy.Client(port);
        for (var i = 0; i < 20; i++)
        {
            using var response = await client.GetAsync("/");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        Assert.Equal(0, v1.Requests);
        Assert.Equal(20, v2.Requests);
    }

    [Fact]
    public async Task Weighted_split_follows_the_weights()
    {
        await using var v1 = await Backend.StartAsync("v1");
        await using var v2 = await Backend.StartAsync("v2");
        await using var proxy = await TestProxy.StartAsync(options: new ProxyHostOptions { Random = new Random(7) });
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port)
            .Routes("rt", ConfigBuilder.Route("split", null, ("catalog-v1", 25), ("catalog-v2", 75)))
            .Cluster("catalog-v1", v1.Port).Cluster("catalog-v2", v2.Port).Build());
        using var client = TestProxy.Client(port);
        for (var i = 0; i < 400; i++)
            (await client.GetAsync("/")).Dispose();
        Assert.Equal(400, v1.Requests + v2.Requests);
        Assert.InRange(v1.Requests, 60, 140);
    }

    [Fact]
    public async Task All_zero_weights_answer_500()
    {
        await using var v1 = await Backend.StartAsync("v1");
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port)
            .Routes("rt", ConfigBuilder.Route("zero", null, ("catalog-v1", 0)))
            .Cluster("catalog-v1", v1.Port).Build());
        using var client = TestProxy.Client(port);
        using var response = await client.GetAsync("/");
        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.Equal(0, v1.Requests);
    }
}
