using System.Globalization;
using Weft.Proxy.Telemetry;
using Weft.Proxy.Tests.Support;

namespace Weft.Proxy.Tests.Telemetry;

/// <summary>The process_* and dotnet_* series follow what the process really does (this test process is the proxy).</summary>
[Collection(nameof(Memory.IdleMemoryTrimmerTests))]
public sealed class ProcessMetricsTests
{
    private static double Value(string text, string series) =>
        TestProxy.MetricValue(text, series) ?? throw new Xunit.Sdk.XunitException($"{series} not in the scrape");

    private static long StatusKilobytes(string field)
    {
        var line = File.ReadLines("/proc/self/status").First(l => l.StartsWith(field + ":", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
    }

    [Fact]
    public void Memory_fds_and_allocations_follow_the_process()
    {
        if (!File.Exists("/proc/self/status"))
            return; // not Linux: the series read 0 by design

        var before = PrometheusText.Write(new ProxyMetrics());
        var rss = Value(before, "process_resident_memory_bytes");
        var procRss = StatusKilobytes("VmRSS") * 1024.0;
        Assert.InRange(rss, procRss * 0.5, procRss * 2);
        Assert.True(Value(before, "process_resident_memory_anonymous_bytes") > 0);
        Assert.True(Value(before, "dotnet_gc_heap_size_bytes") > 0);

        var files = Enumerable.Range(0, 20).Select(_ => File.OpenRead("/proc/self/status")).ToList();
        var garbage = new List<byte[]>();
        for (var i = 0; i < 10; i++)
            garbage.Add(new byte[1024 * 1024]);
        try
        {
            var after = PrometheusText.Write(new ProxyMetrics());
            // Other tests' sockets may close meanwhile, so compare with an independent count taken at
            // the same moment rather than with the earlier scrape.
            var actual = Directory.GetFileSystemEntries("/proc/self/fd").Length;
            var reported = Value(after, "process_open_fds");
            Assert.InRange(reported, Math.Max(20, actual - 10), actual + 10);
            Assert.True(Value(after, "dotnet_gc_allocated_bytes_total") >= Value(before, "dotnet_gc_allocated_bytes_total") + 10 * 1024 * 1024,
                "10 MiB allocated are counted");
            Assert.Contains("# TYPE process_cpu_seconds_total counter\n", after);
            Assert.Contains("dotnet_gc_collections_total{generation=\"0\"} ", after);
        }
        finally
        {
            files.ForEach(f => f.Dispose());
            GC.KeepAlive(garbage);
        }
    }

    [Fact]
    public void Generation_sizes_show_where_the_live_heap_is()
    {
        // 16 arrays of 1 MiB live across a full collection: the large-object heap holds at least that
        // much, and the generations add up to the heap size the same scrape reports.
        var kept = Enumerable.Range(0, 16).Select(_ => new byte[1024 * 1024]).ToList();
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        var text = PrometheusText.Write(new ProxyMetrics());
        GC.KeepAlive(kept);
        Assert.Contains("# TYPE dotnet_gc_generation_size_bytes gauge\n", text);
        Assert.True(Value(text, "dotnet_gc_generation_size_bytes{generation=\"loh\"}") >= 16 * 1024 * 1024);
        var generations = new[] { "0", "1", "2", "loh", "poh" }.Sum(g => Value(text, $"dotnet_gc_generation_size_bytes{{generation=\"{g}\"}}"));
        Assert.Equal(Value(text, "dotnet_gc_heap_size_bytes"), generations, tolerance: 1024 * 1024);
        Assert.True(Value(text, "dotnet_gc_generation_fragmentation_bytes{generation=\"2\"}") >= 0);
    }
}
