using Microsoft.AspNetCore.Server.Kestrel.Core;
using Weft.Protocol.Grpc;
using Weft.Protocol.Shop;

namespace Shop;

/// <summary>`shop ratings`: shop.v1.Ratings over gRPC (HTTP/2 cleartext), answering as its instance.</summary>
internal static class RatingsApp
{
    private static readonly TimeSpan WatchInterval = TimeSpan.FromSeconds(1);

    public static async Task RunAsync(ShopOptions options)
    {
        var app = ShopHost.CreateBuilder(options, HttpProtocols.Http2).Build();
        var stopping = app.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping;
        var votes = new VoteCounter();

        var server = new GrpcServer();
        server.AddUnary(RatingsMethods.Get, (request, _) => Task.FromResult(votes.Rate(request.ProductId, options.Instance)));
        server.AddServerStreaming(RatingsMethods.Watch, async (request, writer, context) =>
        {
            // A watch lives until the client cancels, but must not hold the drain open on shutdown.
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, stopping);
            using var timer = new PeriodicTimer(WatchInterval);
            try
            {
                do await writer.WriteAsync(votes.Rate(request.ProductId, options.Instance), cts.Token);
                while (await timer.WaitForNextTickAsync(cts.Token));
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested && !context.CancellationToken.IsCancellationRequested)
            {
                // Ending the stream cleanly on shutdown: the client sees OK and may re-watch elsewhere.
            }
        });
        app.Run(server.HandleAsync);
        await ShopHost.RunAsync(app, $"ratings {options.Version} {options.Instance}");
    }

    /// <summary>Every call casts a vote, so a watcher sees the rating move.</summary>
    private sealed class VoteCounter
    {
        private int _votes = 100;

        public Rating Rate(string productId, string instance)
        {
            var votes = Interlocked.Increment(ref _votes);
            // Stable per product across processes (string hashes are randomized per process), drifting a little with the votes.
            var basis = 0;
            foreach (var c in productId) basis = (basis * 31 + c) % 20;
            var stars = Math.Round(3.0 + basis / 10.0 + (votes % 5) / 50.0, 2);
            return new Rating { ProductId = productId, Stars = stars, Votes = votes, ServedBy = instance };
        }
    }
}
