using System.Runtime;
using Microsoft.Extensions.Logging;
using Weft.Proxy.Telemetry;

namespace Weft.Proxy.Memory;

/// <summary>
/// Gives memory back to the OS once a burst is over. The GC collects only when something allocates,
/// and the lean request path allocates next to nothing, so after a burst of connections the heap keeps
/// what it committed for them: a sidecar that held 1000 connections stayed at twice its fresh RSS
/// while idle. When a whole interval passes with no request and no new connection, and the GC holds
/// much more than is live, one compacting collection releases the rest (GCCollectionMode.Aggressive
/// decommits what it frees). Under traffic it never runs, so it costs no latency.
/// </summary>
internal sealed class IdleMemoryTrimmer : IAsyncDisposable
{
    /// <summary>Committed beyond live that is worth a full collection to give back.</summary>
    public const long SlackBytes = 8 * 1024 * 1024;

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
        try
        {
            while (await _timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false))
            {
                var now = _activity();
                var quiet = now == last;
                last = now;
                if (quiet)
                    TrimIfWorthIt();
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    private void TrimIfWorthIt()
    {
        var info = GC.GetGCMemoryInfo();
        var slack = info.TotalCommittedBytes - info.HeapSizeBytes;
        if (slack < SlackBytes)
            return;
        var before = info.TotalCommittedBytes;
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
