using System.Diagnostics;
using System.Net;
using Microsoft.AspNetCore.Http;
using Weft.Protocol.Discovery;
using Weft.Proxy.Tests.Support;

namespace Weft.Proxy.Tests.Upstream;

using Protocol = Weft.Protocol.Discovery.Protocol;

/// <summary>Connecting to an endpoint never outlasts the request: the connect ends at the request's deadline.</summary>
public sealed class ConnectDeadlineTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Endpoints_that_drop_SYNs_get_the_request_a_504_timeout_at_its_deadline_not_a_503_after_every_connect_timeout(bool http2)
    {
        using var first = await SynDroppingPort.StartAsync();
        using var second = await SynDroppingPort.StartAsync();
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        var protocol = http2 ? Protocol.Http2 : Protocol.Http;
        // Connect timeout 5 s per endpoint, request timeout 1 s: the connects alone would take 10 s.
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("dark"))
            .Cluster("dark", protocol, (first.Port, "v1"), (second.Port, "v1"))
            .Add(new Resource
            {
                Name = "default/dark",
                Cluster = new Cluster { Service = "dark", Namespace = "default", Protocol = protocol, ConnectTimeoutMs = 5000 },
            })
            .Settings(new ProxySettings { RequestTimeoutMs = 1000 }).Build());
        using var client = TestProxy.Client(port);

        var watch = Stopwatch.StartNew();
        using var response = await client.GetAsync("/");
        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.Equal("timeout", response.Headers.GetValues("x-weft-reason").Single());
        Assert.InRange(watch.Elapsed, TimeSpan.FromMilliseconds(900), TimeSpan.FromSeconds(4.5));
    }

    [Fact]
    public async Task A_refused_connect_within_the_deadline_still_moves_on_to_the_next_endpoint()
    {
        var refused = TestProxy.FreePort();
        await using var backend = await Backend.StartAsync("live", ctx => ctx.Response.WriteAsync("served"));
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("mixed"))
            .Cluster("mixed", Protocol.Http, (refused, "v1"), (backend.Port, "v1"))
            .Settings(new ProxySettings { RequestTimeoutMs = 5000 }).Build());
        using var client = TestProxy.Client(port);
        // Round robin starts at either endpoint: every request is served, whichever was tried first.
        for (var i = 0; i < 4; i++)
            Assert.Equal("served", await client.GetStringAsync("/"));
    }
}
