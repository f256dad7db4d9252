using System.Net;
using System.Net.Http.Json;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Weft.Protocol.Grpc;
using Weft.Protocol.Shop;

namespace Shop;

/// <summary>
/// `shop web`: the front page. Calls catalog over HTTP/1.1 and ratings over gRPC, both through the
/// addresses the mesh gave it (WEFT_UPSTREAM_*), and says who answered.
/// </summary>
internal static class WebApp
{
    private static readonly TimeSpan UpstreamTimeout = TimeSpan.FromSeconds(5);

    public static async Task RunAsync(ShopOptions options)
    {
        var catalogAddress = ShopOptions.Upstream("catalog") ?? "127.0.0.1:8081";
        var ratingsAddress = ShopOptions.Upstream("ratings") ?? "127.0.0.1:9090";
        var app = ShopHost.CreateBuilder(options, HttpProtocols.Http1).Build();

        // Short-lived pooled connections: the sidecar balances per connection as well as per request.
        using var http = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromSeconds(10), UseProxy = false })
        {
            BaseAddress = new Uri($"http://{catalogAddress}"),
            Timeout = UpstreamTimeout,
        };
        var ratings = new RatingsClient(new Uri($"http://{ratingsAddress}"));

        app.MapGet("/", async (HttpContext context) =>
        {
            var ct = context.RequestAborted;
            var trace = TraceHeaders.From(context.Request.Headers);
            var catalogCall = GetCatalogAsync(http, trace, ct);
            var ratingCall = ratings.GetAsync("p1", trace, ct);
            ProductList catalog;
            Rating rating;
            try { catalog = await catalogCall; }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                Observe(ratingCall);
                return BadGateway("catalog", e.Message);
            }
            try { rating = await ratingCall; }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                return BadGateway("ratings", e.Message);
            }
            var page = new Page(
                new CatalogInfo(catalog.Version, catalog.Instance),
                catalog.Products,
                new RatingInfo(rating.ProductId, rating.Stars, rating.Votes, rating.ServedBy),
                options.Instance);
            return Results.Json(page, ShopJson.Default.Page);
        });
        app.MapGet("/healthz", () => "ok");

        try { await ShopHost.RunAsync(app, $"web {options.Instance} (catalog at {catalogAddress}, ratings at {ratingsAddress})"); }
        finally { ratings.Dispose(); }
    }

    private static async Task<ProductList> GetCatalogAsync(HttpClient http, IReadOnlyDictionary<string, string> trace, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/products");
        foreach (var (name, value) in trace) request.Headers.TryAddWithoutValidation(name, value);
        using var response = await http.SendAsync(request, ct);
        if (response.StatusCode != HttpStatusCode.OK)
            throw new HttpRequestException($"catalog answered {(int)response.StatusCode} {response.ReasonPhrase}");
        return await response.Content.ReadFromJsonAsync(ShopJson.Default.ProductList, ct)
            ?? throw new HttpRequestException("catalog answered an empty body");
    }

    private static IResult BadGateway(string upstream, string reason) =>
        Results.Json(new UpstreamError("upstream failed", upstream, reason), ShopJson.Default.UpstreamError, statusCode: StatusCodes.Status502BadGateway);

    // The page has failed already: do not wait for the other call, but do not leave its failure unobserved.
    private static void Observe(Task task) =>
        task.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);

    /// <summary>One HTTP/2 channel to the ratings upstream, made on first use and remade after a failure.</summary>
    private sealed class RatingsClient(Uri address) : IDisposable
    {
        private readonly Lock _gate = new();
        private GrpcChannel? _channel;

        public async Task<Rating> GetAsync(string productId, IReadOnlyDictionary<string, string> trace, CancellationToken ct)
        {
            var channel = Channel();
            try
            {
                return await channel.UnaryAsync(RatingsMethods.Get, new RatingRequest { ProductId = productId },
                    new CallOptions(Deadline: DateTimeOffset.UtcNow + UpstreamTimeout, CancellationToken: ct, Headers: trace));
            }
            catch (RpcException e) when (e.StatusCode is StatusCode.Unavailable or StatusCode.Internal)
            {
                // A broken connection stays broken in a channel: start the next call on a fresh one.
                Reset(channel);
                throw;
            }
        }

        private GrpcChannel Channel()
        {
            lock (_gate) return _channel ??= new GrpcChannel(address);
        }

        private void Reset(GrpcChannel broken)
        {
            lock (_gate)
                if (ReferenceEquals(_channel, broken)) _channel = null;
            broken.Dispose();
        }

        public void Dispose()
        {
            lock (_gate) _channel?.Dispose();
        }
    }
}
