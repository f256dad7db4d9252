using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Shop;

/// <summary>
/// `shop loadgen`: steady traffic to the web front end so metrics move as soon as the mesh is up.
/// A client only: it listens nowhere. Errors are counted, never fatal.
/// </summary>
internal static class LoadGen
{
    private static readonly TimeSpan SummaryEvery = TimeSpan.FromSeconds(10);
    private const int MaxInFlight = 64;

    public static async Task<int> RunAsync(ShopOptions options)
    {
        var targets = options.Targets.Count > 0 ? options.Targets.ToArray()
            : ShopOptions.Upstream("web") is { } web ? [$"http://{web}/"]
            : [];
        if (targets.Length == 0)
        {
            Console.Error.WriteLine("loadgen: no target (set WEFT_UPSTREAM_WEB or pass --target URL)");
            return 2;
        }
        if (options.Rps <= 0)
        {
            Console.Error.WriteLine("loadgen: --rps must be positive");
            return 2;
        }

        using var stop = new CancellationTokenSource();
        using var onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        using var onInt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        void Stop(PosixSignalContext context)
        {
            context.Cancel = true; // we exit by ourselves, right after the loop notices
            stop.Cancel();
        }

        using var http = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromSeconds(10), UseProxy = false })
        {
            Timeout = TimeSpan.FromSeconds(5),
        };
        var counts = new Counts();
        using var inFlight = new SemaphoreSlim(MaxInFlight);
        Console.WriteLine($"loadgen: {options.Rps} req/s to {string.Join(", ", targets)}");

        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1 / options.Rps));
        var summary = Stopwatch.StartNew();
        var next = 0;
        try
        {
            while (await timer.WaitForNextTickAsync(stop.Token))
            {
                // When the target is slower than the rate, drop ticks rather than pile up requests.
                if (inFlight.Wait(0))
                    _ = SendAsync(http, targets[next++ % targets.Length], counts, inFlight, stop.Token);
                else
                    Interlocked.Increment(ref counts.Skipped);
                if (summary.Elapsed >= SummaryEvery)
                {
                    summary.Restart();
                    Console.WriteLine(counts.TakeSummary());
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested) { }
        Console.WriteLine(counts.TakeSummary() + " (stopping)");
        return 0;
    }

    private static async Task SendAsync(HttpClient http, string url, Counts counts, SemaphoreSlim inFlight, CancellationToken ct)
    {
        try
        {
            using var response = await http.GetAsync(url, HttpCompletionOption.ResponseContentRead, ct);
            if (response.IsSuccessStatusCode) Interlocked.Increment(ref counts.Ok);
            else
            {
                Interlocked.Increment(ref counts.Failed);
                counts.LastError = $"HTTP {(int)response.StatusCode}";
            }
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            Interlocked.Increment(ref counts.Failed);
            counts.LastError = e.Message;
        }
        catch (OperationCanceledException) { }
        finally { inFlight.Release(); }
    }

    private sealed class Counts
    {
        public int Ok;
        public int Failed;
        public int Skipped;
        public volatile string? LastError;

        public string TakeSummary()
        {
            var ok = Interlocked.Exchange(ref Ok, 0);
            var failed = Interlocked.Exchange(ref Failed, 0);
            var skipped = Interlocked.Exchange(ref Skipped, 0);
            var error = failed > 0 && LastError is { } e ? $", last error: {e}" : "";
            return $"loadgen: ok={ok} failed={failed} skipped={skipped}{error}";
        }
    }
}
