using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Weft.Proxy.Telemetry;

/// <summary>
/// The process and runtime series every Prometheus client library exports (process_* as the Go and
/// Python clients name them; dotnet_* for the .NET runtime), so a sidecar's memory, CPU and GC are
/// visible next to its requests. Read at scrape time from /proc and the runtime: nothing on the hot path.
/// </summary>
internal static class ProcessMetrics
{
    private static readonly double StartTimeSeconds = ReadStartTime();

    public static void Write(StringBuilder sb)
    {
        var status = ReadStatus();
        Gauge(sb, "process_resident_memory_bytes", "Resident memory size in bytes (VmRSS).", status.Rss);
        Gauge(sb, "process_resident_memory_anonymous_bytes", "Resident anonymous memory in bytes (RssAnon: heap, stacks, JIT'd code; not shared files).", status.Anon);
        Gauge(sb, "process_virtual_memory_bytes", "Virtual memory size in bytes (VmSize).", status.Virtual);
        Counter(sb, "process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
            Environment.CpuUsage.TotalTime.TotalSeconds);
        Gauge(sb, "process_open_fds", "Number of open file descriptors.", OpenFds());
        Gauge(sb, "process_start_time_seconds", "Start time of the process since unix epoch in seconds.", StartTimeSeconds);

        var gc = GC.GetGCMemoryInfo();
        Gauge(sb, "dotnet_gc_heap_size_bytes", "GC heap size after the last collection, in bytes.", gc.HeapSizeBytes);
        Gauge(sb, "dotnet_gc_committed_bytes", "Memory the GC has committed, in bytes.", gc.TotalCommittedBytes);
        // Per generation (0, 1, 2, large objects, pinned objects), as OpenTelemetry's runtime metrics
        // name them: where a heap's committed memory goes when it exceeds what is live.
        var generations = gc.GenerationInfo.Length;
        PerGeneration(sb, "dotnet_gc_generation_size_bytes", "Size of each GC generation after the last collection, in bytes.", "gauge",
            generations, i => gc.GenerationInfo[i].SizeAfterBytes);
        PerGeneration(sb, "dotnet_gc_generation_fragmentation_bytes", "Free space inside each GC generation after the last collection, in bytes.", "gauge",
            generations, i => gc.GenerationInfo[i].FragmentationAfterBytes);
        Counter(sb, "dotnet_gc_allocated_bytes_total", "Bytes allocated on the GC heap since the process started.", GC.GetTotalAllocatedBytes());
        PerGeneration(sb, "dotnet_gc_collections_total", "Garbage collections, by generation.", "counter",
            GC.MaxGeneration + 1, g => GC.CollectionCount(g));
        Gauge(sb, "dotnet_threadpool_threads", "Thread pool threads.", ThreadPool.ThreadCount);
    }

    private static readonly string[] GenerationNames = ["0", "1", "2", "loh", "poh"];

    /// <summary>One series labelled by generation (scrape time only: the delegate is no cost per request).</summary>
    private static void PerGeneration(StringBuilder sb, string name, string help, string type, int count, Func<int, long> value)
    {
        sb.Append("# HELP ").Append(name).Append(' ').Append(help).Append("\n# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
        for (var i = 0; i < count; i++)
        {
            sb.Append(name).Append("{generation=\"").Append(i < GenerationNames.Length ? GenerationNames[i] : i.ToString(CultureInfo.InvariantCulture))
                .Append("\"} ").Append(value(i).ToString(CultureInfo.InvariantCulture)).Append('\n');
        }
    }

    private static double ReadStartTime()
    {
        using var self = Process.GetCurrentProcess();
        return (self.StartTime.ToUniversalTime() - DateTime.UnixEpoch).TotalSeconds;
    }

    private static (long Rss, long Anon, long Virtual) ReadStatus()
    {
        long rss = 0, anon = 0, virt = 0;
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal)) rss = Kilobytes(line);
                else if (line.StartsWith("RssAnon:", StringComparison.Ordinal)) anon = Kilobytes(line);
                else if (line.StartsWith("VmSize:", StringComparison.Ordinal)) virt = Kilobytes(line);
            }
        }
        catch (IOException)
        {
            // No procfs (not Linux): the series read 0 rather than failing the scrape.
        }
        return (rss, anon, virt);
    }

    /// <summary>"VmRSS:\t  56000 kB" to bytes.</summary>
    private static long Kilobytes(string line)
    {
        var value = line.AsSpan(line.IndexOf(':') + 1).Trim();
        var space = value.IndexOf(' ');
        return long.Parse(space < 0 ? value : value[..space], CultureInfo.InvariantCulture) * 1024;
    }

    private static int OpenFds()
    {
        try
        {
            return Directory.GetFileSystemEntries("/proc/self/fd").Length;
        }
        catch (IOException)
        {
            return 0;
        }
    }

    private static void Gauge(StringBuilder sb, string name, string help, double value) => Series(sb, name, help, "gauge", value);

    private static void Counter(StringBuilder sb, string name, string help, double value) => Series(sb, name, help, "counter", value);

    private static void Series(StringBuilder sb, string name, string help, string type, double value) =>
        sb.Append("# HELP ").Append(name).Append(' ').Append(help).Append("\n# TYPE ").Append(name).Append(' ').Append(type).Append('\n')
            .Append(name).Append(' ').Append(value.ToString("R", CultureInfo.InvariantCulture)).Append('\n');
}
