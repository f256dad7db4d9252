using System.Diagnostics;
using System.Net;
using Microsoft.AspNetCore.Http;
using Weft.Protocol.Discovery;
using Weft.Proxy.Tests.Support;

namespace Weft.Proxy.Tests.Pipeline;

/// <summary>The default request timeout: an app that does not answer in time gets the client a 504, whatever codec carried the request.</summary>
public sealed class RequestTimeoutTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task An_answer_that_does_not_come_in_time_is_a_504_timeout_and_other_requests_are_served(bool http2)
    {
        var released = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var aborted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = await Backend.StartAsync("slow", async ctx =>
        {
            if (ctx.Request.Path == "/slow")
            {
                ctx.RequestAborted.Register(() => aborted.TrySetResult());
                await released.Task.WaitAsync(TimeSpan.FromSeconds(30), ctx.RequestAborted);
            }
            await ctx.Response.WriteAsync("done");
        });
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("slow")).Cluster("slow", backend.Port)
            .Settings(new ProxySettings { RequestTimeoutMs = 800 }).Build());
        using var client = Client(port, http2);
        using var other = Client(port, http2);

        var watch = Stopwatch.StartNew();
        var slow = client.GetAsync("/slow");
        // Meanwhile, other requests are served at once.
        for (var i = 0; i < 5; i++)
            Assert.Equal("done", await other.GetStringAsync("/fast"));
        using var response = await slow;
        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.Equal("timeout", response.Headers.GetValues("x-weft-reason").Single());
        Assert.Contains("did not answer within the request timeout", await response.Content.ReadAsStringAsync());
        Assert.InRange(watch.Elapsed, TimeSpan.FromMilliseconds(700), TimeSpan.FromSeconds(5));
        // The app is told: its connection (HTTP/1.1) is reset.
        await aborted.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Contains("response_code=\"504\"", await proxy.MetricsAsync());
        released.TrySetResult();
    }

    [Fact]
    public async Task A_request_timeout_of_zero_is_none_and_grpc_calls_keep_their_own_deadline()
    {
        await using var backend = await Backend.StartAsync("late", async ctx =>
        {
            await Task.Delay(1500);
            await ctx.Response.WriteAsync("late but fine");
        });
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("late")).Cluster("late", backend.Port)
            .Settings(new ProxySettings { RequestTimeoutMs = 500 }).Build());
        using var client = Client(port, http2: false);
        // gRPC (by its content type) is exempt: a gRPC call has its own deadline and may stream for long.
        using var grpcLike = new HttpRequestMessage(HttpMethod.Post, "/pkg.Svc/Call") { Content = new ByteArrayContent([0, 0, 0, 0, 0]) };
        grpcLike.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/grpc");
        using var exempt = await client.SendAsync(grpcLike);
        Assert.Equal(HttpStatusCode.OK, exempt.StatusCode);

        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("late")).Cluster("late", backend.Port)
            .Settings(new ProxySettings { RequestTimeoutMs = 0 }).Build(2));
        Assert.Equal("late but fine", await client.GetStringAsync("/no-timeout"));
    }

    private static HttpClient Client(int port, bool http2)
    {
        var client = TestProxy.Client(port);
        if (http2)
        {
            client.DefaultRequestVersion = HttpVersion.Version20;
            client.DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact;
        }
        return client;
    }
}
