using System.Net;
using Weft.Proxy.Tests.Support;

namespace Weft.Proxy.Tests.Admin;

public sealed class AdminTests
{
    [Fact]
    public async Task Ready_only_after_the_first_config_and_not_while_draining()
    {
        await using var backend = await Backend.StartAsync("app");
        var proxy = await TestProxy.StartAsync(certified: false);
        using (var before = await proxy.Admin.GetAsync("/ready"))
            Assert.Equal(HttpStatusCode.ServiceUnavailable, before.StatusCode);
        Assert.False(proxy.Host.IsReady);

        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("app")).Cluster("app", backend.Port).Build(5));
        // A config without a certificate is not ready either: the sidecar could neither call nor be called over mTLS.
        using (var uncertified = await proxy.Admin.GetAsync("/ready"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, uncertified.StatusCode);
            Assert.Equal("waiting for the workload certificate\n", await uncertified.Content.ReadAsStringAsync());
        }
        proxy.Host.Certificates.Set(TestCertificates.Mesh.Issue("frontend"));
        using (var after = await proxy.Admin.GetAsync("/ready"))
        {
            Assert.Equal(HttpStatusCode.OK, after.StatusCode);
            Assert.Equal("ready\n", await after.Content.ReadAsStringAsync());
        }
        Assert.True(proxy.Host.IsReady);

        await proxy.DisposeAsync();
        Assert.False(proxy.Host.IsReady);
        await Assert.ThrowsAsync<HttpRequestException>(() => TestProxy.Client(port).GetAsync("/"));
    }

    [Fact]
    public async Task Stop_lets_an_in_flight_request_finish()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var slow = await Backend.StartAsync("slow", async ctx =>
        {
            arrived.TrySetResult();
            await release.Task;
            await Microsoft.AspNetCore.Http.HttpResponseWritingExtensions.WriteAsync(ctx.Response, "done");
        });
        var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("slow")).Cluster("slow", slow.Port).Build());
        using var client = TestProxy.Client(port);
        var inFlight = client.GetStringAsync("/");
        await arrived.Task.WaitAsync(TimeSpan.FromSeconds(10));

        var stopping = proxy.Host.StopAsync(TimeSpan.FromSeconds(10));
        await Eventually.TrueAsync(() => Task.FromResult(!proxy.Host.IsReady), "readiness off while draining");
        Assert.False(stopping.IsCompleted);
        release.SetResult();
        Assert.Equal("done", await inFlight.WaitAsync(TimeSpan.FromSeconds(10)));
        await stopping.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Config_dump_clusters_and_stats_show_the_running_state()
    {
        await using var backend = await Backend.StartAsync("app");
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("app")).Cluster("app", backend.Port).Build(9));
        using var client = TestProxy.Client(port);
        for (var i = 0; i < 3; i++)
            (await client.GetAsync("/")).EnsureSuccessStatusCode();

        var dump = await proxy.Admin.GetStringAsync("/config_dump");
        Assert.Contains("\"revision\": 9,", dump);
        Assert.Contains("\"version\": \"v9\"", dump);
        Assert.Contains("\"cluster/default/app\":", dump);
        Assert.Contains("\"routeTable\"", dump);

        var clusters = await proxy.Admin.GetStringAsync("/clusters");
        Assert.Contains("\"name\": \"default/app\"", clusters);
        Assert.Contains($"\"port\": {backend.Port}", clusters);
        Assert.Contains("\"requests\": 3", clusters);

        var stats = await proxy.Admin.GetAsync("/stats/prometheus");
        Assert.StartsWith("text/plain; version=0.0.4", stats.Content.Headers.ContentType!.ToString());
        var text = await stats.Content.ReadAsStringAsync();
        Assert.Contains("destination_service=\"app\",destination_version=\"v1\",response_code=\"200\",grpc_status=\"\",protocol=\"http\",mtls=\"false\"} 3\n", text);
        Assert.Contains("weft_config_revision 9\n", text);
    }
}
