using System.Diagnostics;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Weft.Cli.Up;
using Weft.Model.Resources;
using Weft.Model.Topology;

namespace Weft.Integration.Up;

/// <summary>The parts of the stop order that need no mesh: who is stopped first, and reading sidecars' requests in flight.</summary>
public sealed class MeshShutdownTests
{
    private static Workload Workload(string name, params string[] upstreams) =>
        new(name, name, "v1", "default", EquatableMap.From([]), 1, "http", 8080, ["app"], new Dictionary<string, string>(), upstreams);

    [Fact]
    public void Apps_nobody_calls_are_stopped_with_the_gateway()
    {
        var topology = new Topology("shop", "/mesh", [],
            [Workload("web", "catalog"), Workload("catalog"), Workload("loadgen", "web"), Workload("cron", "catalog")], new IngressSpec("web", 8080));
        var plan = LaunchPlan.Create(topology, new LaunchOptions(), () => 1);

        Assert.Equal(["cron-0", "loadgen-0"], MeshShutdown.CallerInstances(topology, plan).Order(StringComparer.Ordinal));
        // Without an ingress (and loadgen), nobody calls web either.
        var alone = topology with { Ingress = null, Workloads = [Workload("web", "catalog"), Workload("catalog")] };
        Assert.Equal(["web-0"], MeshShutdown.CallerInstances(alone, LaunchPlan.Create(alone, new LaunchOptions(), () => 1)));
    }

    [Theory]
    [InlineData("weft_requests_active{direction=\"inbound\"} 37\nweft_requests_active{direction=\"outbound\"} 2\n", 37L)]
    [InlineData("# TYPE weft_requests_active gauge\r\nweft_requests_active{direction=\"inbound\"} 0\r\n", 0L)]
    [InlineData("weft_requests_active{direction=\"outbound\"} 2\n", null)]
    [InlineData("weft_requests_active{direction=\"inbound\"} x\n", null)]
    public void The_inbound_gauge_is_read_from_the_prometheus_page(string page, long? expected)
    {
        Assert.Equal(expected, InFlightRequests.ParseInbound(page));
    }

    [Fact]
    public async Task Waits_until_no_sidecar_counts_a_request_and_names_the_busy_ones_at_the_deadline()
    {
        await using var busy = await FakeSidecar.StartAsync(3);
        await using var idle = await FakeSidecar.StartAsync(0);
        var gone = new Uri($"http://127.0.0.1:{new PortAllocator().Next()}/"); // a sidecar that is not there counts none

        var clock = Stopwatch.StartNew();
        var left = await InFlightRequests.WaitForNoneAsync([("a-0", busy.Url), ("b-0", idle.Url), ("c-0", gone)], TimeSpan.FromSeconds(3));
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(2.8), $"gave up after {clock.Elapsed}");
        Assert.Equal(new Dictionary<string, long?> { ["a-0"] = 3 }, left);
        Assert.Equal("a-0 3, b-0 no answer", InFlightRequests.Describe(new Dictionary<string, long?> { ["a-0"] = 3, ["b-0"] = null }));

        var finishing = InFlightRequests.WaitForNoneAsync([("a-0", busy.Url), ("b-0", idle.Url)], TimeSpan.FromSeconds(20));
        await UpTestSupport.WaitUntilAsync(() => busy.Reads >= 3, "a few reads of the busy sidecar");
        Assert.False(finishing.IsCompleted);
        busy.Active = 0;
        Assert.Empty(await finishing.WaitAsync(TimeSpan.FromSeconds(20)));
    }

    /// <summary>A sidecar's admin endpoint reduced to its inbound gauge.</summary>
    private sealed class FakeSidecar : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private int _reads;
        private long _active;

        private FakeSidecar(WebApplication app, long active) => (_app, _active) = (app, active);

        public long Active { get => Interlocked.Read(ref _active); set => Interlocked.Exchange(ref _active, value); }
        public int Reads => Volatile.Read(ref _reads);
        public Uri Url => new(_app.Urls.First() + "/");

        public static async Task<FakeSidecar> StartAsync(long active)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
            var app = builder.Build();
            var sidecar = new FakeSidecar(app, active);
            app.MapGet("/stats/prometheus", () =>
            {
                Interlocked.Increment(ref sidecar._reads);
                return Results.Text($"weft_requests_active{{direction=\"inbound\"}} {sidecar.Active}\nweft_requests_active{{direction=\"outbound\"}} 0\n");
            });
            await app.StartAsync();
            return sidecar;
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
