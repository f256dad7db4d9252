using System.Collections.Concurrent;
using System.Globalization;

namespace Weft.Control.Discovery;

/// <summary>
/// The control plane's discovery counters (CONTRACT, "Metrics"): plain interlocked numbers, written out in
/// Prometheus text format on demand, so recording costs nothing more than an increment.
/// </summary>
public sealed class DiscoveryMetrics
{
    // Seconds; convergence is usually milliseconds on one machine, seconds when something is wrong.
    private static readonly double[] Buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
    private const int MaxReasonLength = 120;

    private readonly Lock _histogramGate = new();
    private readonly long[] _bucketCounts = new long[Buckets.Length];
    private readonly ConcurrentDictionary<string, long> _rejected = new(StringComparer.Ordinal);
    private long _connected;
    private long _pushes;
    private long _unauthenticated;
    private long _denied;
    private long _convergenceCount;
    private double _convergenceSum;

    public long ProxiesConnected => Interlocked.Read(ref _connected);
    public long PushesTotal => Interlocked.Read(ref _pushes);
    public long ConvergenceCount { get { lock (_histogramGate) return _convergenceCount; } }
    public long RejectedTotal => _rejected.Values.Sum();

    internal void StreamOpened() => Interlocked.Increment(ref _connected);
    internal void StreamClosed() => Interlocked.Decrement(ref _connected);
    internal void Pushed() => Interlocked.Increment(ref _pushes);

    /// <summary>A stream refused at admission: without proof of a service account, or for a node that account may not register.</summary>
    internal void Refused(bool unauthenticated) => Interlocked.Increment(ref unauthenticated ? ref _unauthenticated : ref _denied);

    internal void Rejected(string reason)
    {
        // The reason becomes a label value: keep it bounded so one verbose proxy cannot bloat /metrics.
        var label = reason.Length > MaxReasonLength ? reason[..MaxReasonLength] : reason;
        _rejected.AddOrUpdate(label, 1, static (_, n) => n + 1);
    }

    internal void Converged(TimeSpan elapsed)
    {
        var seconds = Math.Max(0, elapsed.TotalSeconds);
        lock (_histogramGate)
        {
            _convergenceCount++;
            _convergenceSum += seconds;
            for (var i = 0; i < Buckets.Length; i++)
            {
                if (seconds <= Buckets[i]) _bucketCounts[i]++;
            }
        }
    }

    public void WritePrometheus(TextWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        var inv = CultureInfo.InvariantCulture;
        writer.Write("# HELP weft_control_proxies_connected Proxies with an open discovery stream.\n");
        writer.Write("# TYPE weft_control_proxies_connected gauge\n");
        writer.Write(string.Create(inv, $"weft_control_proxies_connected {ProxiesConnected}\n"));
        writer.Write("# HELP weft_control_pushes_total Discovery responses sent to proxies.\n");
        writer.Write("# TYPE weft_control_pushes_total counter\n");
        writer.Write(string.Create(inv, $"weft_control_pushes_total {PushesTotal}\n"));

        writer.Write("# HELP weft_control_streams_refused_total Discovery streams refused: no valid bootstrap token (unauthenticated) or a node the token's service account may not register (permission_denied).\n");
        writer.Write("# TYPE weft_control_streams_refused_total counter\n");
        writer.Write(string.Create(inv, $"weft_control_streams_refused_total{{reason=\"unauthenticated\"}} {Interlocked.Read(ref _unauthenticated)}\n"));
        writer.Write(string.Create(inv, $"weft_control_streams_refused_total{{reason=\"permission_denied\"}} {Interlocked.Read(ref _denied)}\n"));

        writer.Write("# HELP weft_control_convergence_seconds Time from a change being accepted to a proxy acknowledging it.\n");
        writer.Write("# TYPE weft_control_convergence_seconds histogram\n");
        lock (_histogramGate)
        {
            for (var i = 0; i < Buckets.Length; i++)
                writer.Write(string.Create(inv, $"weft_control_convergence_seconds_bucket{{le=\"{Buckets[i]}\"}} {_bucketCounts[i]}\n"));
            writer.Write(string.Create(inv, $"weft_control_convergence_seconds_bucket{{le=\"+Inf\"}} {_convergenceCount}\n"));
            writer.Write(string.Create(inv, $"weft_control_convergence_seconds_sum {_convergenceSum}\n"));
            writer.Write(string.Create(inv, $"weft_control_convergence_seconds_count {_convergenceCount}\n"));
        }

        writer.Write("# HELP weft_control_config_rejected_total Configs proxies refused (NACKs), by reason.\n");
        writer.Write("# TYPE weft_control_config_rejected_total counter\n");
        foreach (var (reason, count) in _rejected.OrderBy(p => p.Key, StringComparer.Ordinal))
            writer.Write(string.Create(inv, $"weft_control_config_rejected_total{{reason=\"{EscapeLabel(reason)}\"}} {count}\n"));
    }

    private static string EscapeLabel(string value) =>
        value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
}
