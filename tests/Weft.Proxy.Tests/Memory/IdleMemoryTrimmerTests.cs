using Weft.Proxy.Tests.Support;
using Xunit.Abstractions;

namespace Weft.Proxy.Tests.Memory;

/// <summary>
/// After a burst the proxy gives surplus memory back once idle, and never while traffic flows (a full
/// collection is a pause). The proxy runs in this process, so the test's own garbage is the burst.
/// </summary>
[Collection(nameof(IdleMemoryTrimmerTests))]
public sealed class IdleMemoryTrimmerTests(ITestOutputHelper output)
{
    // Long enough that a loaded CI machine never leaves the traffic loop a whole interval without an answer.
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);

    private static async Task<double> ValueAsync(TestProxy proxy, string series) =>
        await proxy.MetricAsync(series) ?? throw new Xunit.Sdk.XunitException($"{series} not in the scrape");

    /// <summary>60 MB that lives long enough to be promoted, then dies: committed, no longer live.</summary>
    private static void Burst()
    {
        var held = new List<byte[]>();
        for (var i = 0; i < 60; i++)
            held.Add(new byte[1024 * 1024]);
        GC.Collect();
        GC.KeepAlive(held);
        held.Clear();
        GC.Collect(); // an ordinary collection: frees them but keeps the memory committed
    }

    [Fact]
    public async Task Surplus_memory_goes_back_once_idle_and_never_under_traffic()
    {
        await using var backend = await Backend.StartAsync("app");
        await using var proxy = await TestProxy.StartAsync(options: new ProxyHostOptions { IdleMemoryTrimInterval = Interval });
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("app")).Cluster("app", backend.Port).Build());
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };

        // Traffic throughout, with a burst in the middle: surplus exists, but the proxy is busy, so it
        // must not collect (it may have trimmed before the traffic began: it was idle then).
        using var stopTraffic = new CancellationTokenSource();
        var firstAnswer = new TaskCompletionSource();
        var traffic = Task.Run(async () =>
        {
            while (!stopTraffic.IsCancellationRequested)
            {
                (await client.GetAsync("/busy")).EnsureSuccessStatusCode();
                firstAnswer.TrySetResult();
            }
        });
        await firstAnswer.Task.WaitAsync(TimeSpan.FromSeconds(10));
        var trimsBefore = await ValueAsync(proxy, "weft_memory_trims_total");
        Burst();
        await Task.Delay(Interval * 4); // the window observed, not a wait for a condition
        Assert.Equal(trimsBefore, await ValueAsync(proxy, "weft_memory_trims_total"));
        var committedBusy = await ValueAsync(proxy, "dotnet_gc_committed_bytes");
        await stopTraffic.CancelAsync();
        await traffic;

        // Quiet: within a few intervals it collects once and the committed memory drops.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (await ValueAsync(proxy, "weft_memory_trims_total") <= trimsBefore)
        {
            Assert.True(DateTime.UtcNow < deadline, "no trim within 20 s of going quiet");
            await Task.Delay(Interval);
        }
        var committedIdle = await ValueAsync(proxy, "dotnet_gc_committed_bytes");
        var liveIdle = await ValueAsync(proxy, "dotnet_gc_heap_size_bytes");
        output.WriteLine($"GC committed: {committedBusy / 1048576:F1} MB under traffic -> {committedIdle / 1048576:F1} MB once idle ({liveIdle / 1048576:F1} MB live)");
        // What stays committed beyond the live heap is what the trim failed to give back. (The live heap
        // is the whole test process's; the GC may also have returned some on its own under traffic.)
        Assert.True(committedIdle - liveIdle < 16 * 1024 * 1024,
            $"after the trim {committedIdle / 1048576:F1} MB committed for {liveIdle / 1048576:F1} MB live");
    }
}

/// <summary>Process-wide GC: this runs alone.</summary>
[CollectionDefinition(nameof(IdleMemoryTrimmerTests), DisableParallelization = true)]
public sealed class IdleMemoryTrimmerTestsCollection;
