using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Weft.Cli.Up;
using Weft.Protocol.Grpc;
using Weft.Protocol.Shop;
using static Weft.Integration.Up.UpTestSupport;

namespace Weft.Integration.Up;

/// <summary>The demo apps as `weft up` runs them: under the supervisor, configured only by env.</summary>
public sealed class ShopAppTests : IAsyncLifetime
{
    private static readonly HttpClient Http = new(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(10) };
    private readonly CapturedOutput _output = new();
    private readonly ProcessSupervisor _supervisor;
    private readonly PortAllocator _ports = new();

    public ShopAppTests() => _supervisor = new ProcessSupervisor(_output);

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _supervisor.StopAllAsync();

    private async Task<(ManagedProcess Process, int Port)> StartShopAsync(string instance, string mode, Dictionary<string, string>? env = null, params string[] args)
    {
        var port = _ports.Next();
        var environment = new Dictionary<string, string>(env ?? []) { ["PORT"] = port.ToString(), ["WEFT_INSTANCE"] = instance };
        var process = _supervisor.Start(new ProcessSpec(instance, ProcessRole.App, "dotnet", [ShopDll(), mode, .. args], environment, RepoRoot()));
        if (mode != "loadgen")
            Assert.True(await ReadinessProbe.WaitAsync(new Uri($"http://127.0.0.1:{port}/healthz"), Deadline), $"{instance} did not get ready:\n{string.Join('\n', _output.Lines)}");
        return (process, port);
    }

    [Fact]
    public async Task Catalog_says_its_version_and_instance_and_drains_on_SIGTERM()
    {
        var (catalog, port) = await StartShopAsync("catalog-v2-0", "catalog", new() { ["WEFT_VERSION"] = "v2" });

        using var response = await Http.GetAsync($"http://127.0.0.1:{port}/products");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("v2", response.Headers.GetValues("x-catalog-version").Single());
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("v2", body.RootElement.GetProperty("version").GetString());
        Assert.Equal("catalog-v2-0", body.RootElement.GetProperty("instance").GetString());
        Assert.True(body.RootElement.GetProperty("products").GetArrayLength() > 0);

        var watch = Stopwatch.StartNew();
        await catalog.StopAsync(TimeSpan.FromSeconds(8));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(6), $"took {watch.Elapsed}");
        Assert.Equal(0, catalog.Status.LastExitCode);
        Assert.Contains("[catalog-v2-0] catalog v2 catalog-v2-0 stopped", _output.Lines);
    }

    [Fact]
    public async Task Web_answers_502_naming_the_upstream_that_failed()
    {
        var nobody = _ports.Next();
        var (_, port) = await StartShopAsync("web-0", "web", new()
        {
            ["WEFT_UPSTREAM_CATALOG"] = $"127.0.0.1:{nobody}",
            ["WEFT_UPSTREAM_RATINGS"] = $"127.0.0.1:{nobody}",
        });

        using var response = await Http.GetAsync($"http://127.0.0.1:{port}/");
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("catalog", body.RootElement.GetProperty("upstream").GetString());
        Assert.False(string.IsNullOrEmpty(body.RootElement.GetProperty("reason").GetString()));
    }

    [Fact]
    public async Task Web_passes_the_trace_context_on_to_its_upstreams()
    {
        using var catalog = new TinyHttpServer();
        var (_, port) = await StartShopAsync("web-2", "web", new()
        {
            ["WEFT_UPSTREAM_CATALOG"] = $"127.0.0.1:{catalog.Port}",
            ["WEFT_UPSTREAM_RATINGS"] = $"127.0.0.1:{_ports.Next()}",
        });
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{port}/");
        request.Headers.Add("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
        request.Headers.Add("x-b3-sampled", "1");
        using var response = await Http.SendAsync(request);

        var head = catalog.LastRequest;
        Assert.StartsWith("GET /products HTTP/1.1", head);
        Assert.Contains("traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n", head);
        Assert.Contains("x-b3-sampled: 1\r\n", head);
    }

    [GrpcTransportFact]
    public async Task Web_shows_which_catalog_and_ratings_instance_answered()
    {
        var (_, catalogPort) = await StartShopAsync("catalog-v1-0", "catalog", new() { ["WEFT_VERSION"] = "v1" });
        var (_, ratingsPort) = await StartShopRatingsAsync("ratings-0");
        var (_, port) = await StartShopAsync("web-1", "web", new()
        {
            ["WEFT_UPSTREAM_CATALOG"] = $"127.0.0.1:{catalogPort}",
            ["WEFT_UPSTREAM_RATINGS"] = $"127.0.0.1:{ratingsPort}",
        });

        using var response = await Http.GetAsync($"http://127.0.0.1:{port}/");
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        using var body = JsonDocument.Parse(text);
        Assert.Equal("v1", body.RootElement.GetProperty("catalog").GetProperty("version").GetString());
        Assert.Equal("catalog-v1-0", body.RootElement.GetProperty("catalog").GetProperty("instance").GetString());
        Assert.Equal("ratings-0", body.RootElement.GetProperty("rating").GetProperty("served_by").GetString());
        Assert.Equal("web-1", body.RootElement.GetProperty("web").GetString());
    }

    [GrpcTransportFact]
    public async Task Ratings_watch_streams_updates_until_cancelled()
    {
        var (_, port) = await StartShopRatingsAsync("ratings-1");
        using var channel = new GrpcChannel(new Uri($"http://127.0.0.1:{port}"));
        var watch = channel.ServerStreaming(ShopRatings.Watch, new RatingRequest { ProductId = "p2" });
        await using (watch)
        {
            var first = await watch.ResponseStream.ReadAsync().AsTask().WaitAsync(Deadline);
            var second = await watch.ResponseStream.ReadAsync().AsTask().WaitAsync(Deadline);
            Assert.Equal("ratings-1", first!.ServedBy);
            Assert.Equal("p2", second!.ProductId);
            Assert.True(second.Votes > first.Votes);
            watch.Cancel();
        }
        var rating = await channel.UnaryAsync(ShopRatings.Get, new RatingRequest { ProductId = "p1" });
        Assert.Equal("ratings-1", rating.ServedBy);
    }

    [Fact]
    public async Task Loadgen_sends_steady_traffic_and_exits_promptly_on_SIGTERM()
    {
        using var target = new TinyHttpServer();
        var (loadgen, _) = await StartShopAsync("loadgen-0", "loadgen", null, "--rps", "50", "--target", $"http://127.0.0.1:{target.Port}/");
        await WaitUntilAsync(() => target.Requests >= 10, "ten requests reached the target");

        var watch = Stopwatch.StartNew();
        await loadgen.StopAsync(TimeSpan.FromSeconds(8));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(3), $"took {watch.Elapsed}");
        Assert.Equal(0, loadgen.Status.LastExitCode);
        Assert.Contains(_output.Lines, l => l.StartsWith("[loadgen-0] loadgen: ok=", StringComparison.Ordinal) && l.EndsWith("(stopping)", StringComparison.Ordinal));
    }

    // gRPC answers only on HTTP/2, so /healthz over HTTP/1.1 cannot say it is ready: a TCP connect does.
    private async Task<(ManagedProcess Process, int Port)> StartShopRatingsAsync(string instance)
    {
        var port = _ports.Next();
        var process = _supervisor.Start(new ProcessSpec(instance, ProcessRole.App, "dotnet", [ShopDll(), "ratings"],
            new Dictionary<string, string> { ["PORT"] = port.ToString(), ["WEFT_INSTANCE"] = instance }, RepoRoot()));
        await WaitUntilAsync(() => _output.Lines.Any(l => l.StartsWith($"[{instance}] ratings", StringComparison.Ordinal) && l.Contains("listening", StringComparison.Ordinal)), $"{instance} listening");
        return (process, port);
    }
}

/// <summary>shop.v1.Ratings as a client sees it (the shop's own copy is internal to the app).</summary>
internal static class ShopRatings
{
    public static readonly Method<RatingRequest, Rating> Get = new("shop.v1.Ratings", "Get", MethodType.Unary, RatingRequest.Parser, Rating.Parser);
    public static readonly Method<RatingRequest, Rating> Watch = new("shop.v1.Ratings", "Watch", MethodType.ServerStreaming, RatingRequest.Parser, Rating.Parser);
}

/// <summary>Runs only once our gRPC transport (GrpcServer, GrpcChannel) is more than its stub.</summary>
internal sealed class GrpcTransportFactAttribute : FactAttribute
{
    public GrpcTransportFactAttribute()
    {
        try
        {
            new GrpcServer().AddUnary(ShopRatings.Get, (r, _) => Task.FromResult(new Rating()));
        }
        catch (NotImplementedException)
        {
            Skip = "the gRPC transport (Weft.Protocol/Grpc) is still a stub";
        }
    }
}
