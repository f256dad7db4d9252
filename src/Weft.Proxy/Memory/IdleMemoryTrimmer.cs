using System.Runtime;
using Microsoft.Extensions.Logging;
using Weft.Proxy.Telemetry;

namespace Weft.Proxy.Memory;

/// <summary>
/// Gives memory back to the OS once a burst is over. The GC collects only when something allocates,
/// and the lean request path allocates next to nothing, so after a burst of connections the heap keeps
/// what it committed for them: a sidecar that held 1000 connections stayed at twice its fresh RSS
/// while idle. When a whole interval passes with no request and no new connection after traffic, one
/// compacting collection releases what the burst left (GCCollectionMode.Aggressive decommits what it
/// frees): once per burst, never under traffic, so it costs no latency. Whether the heap holds garbage
/// cannot be told without collecting (the last collection's figures predate the connections that
/// closed since), so any activity since the last trim makes a trim worth it.
/// </summary>
internal sealed class IdleMemoryTrimmer : IAsyncDisposable
{
    /// <summary>Below this the GC holds next to nothing: a collection would give nothing back.</summary>
    public const long FloorBytes = 4 * 1024 * 1024;

    private readonly Func<long> _activity;
    private readonly Counter _trims;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly PeriodicTimer _timer;
    private readonly Task _loop;

    /// <param name="activity">A number that moves with every request and new connection.</param>
    /// <param name="trims">Counts the collections run (weft_memory_trims_total).</param>
    public IdleMemoryTrimmer(Func<long> activity, Counter trims, TimeSpan interval, TimeProvider time, ILogger logger)
    {
        _activity = activity;
        _trims = trims;
        _logger = logger;
        _timer = new PeriodicTimer(interval, time);
        _loop = RunAsync();
    }

    private async Task RunAsync()
    {
        var last = _activity();
        long? trimmedAt = null;
        try
        {
            while (await _timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false))
            {
                var now = _activity();
                var quiet = now == last;
                last = now;
                if (quiet && now != trimmedAt)
                {
                    TrimIfWorthIt();
                    trimmedAt = now;
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    private void TrimIfWorthIt()
    {
        var before = GC.GetGCMemoryInfo().TotalCommittedBytes;
        if (before < FloorBytes)
            return;
        GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        _trims.Increment();
        Log.MemoryTrimmed(_logger, before / (1024 * 1024), GC.GetGCMemoryInfo().TotalCommittedBytes / (1024 * 1024));
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        _timer.Dispose();
        _stop.Dispose();
    }
}
