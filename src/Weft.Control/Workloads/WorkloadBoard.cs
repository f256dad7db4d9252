namespace Weft.Control.Workloads;

/// <summary>
/// The launchers' live view of their processes, in memory only: each report replaces that launcher's
/// previous one, and a launcher silent for <see cref="Expiry"/> is gone (it reports every second, so a
/// restarted control plane has the view again almost at once, and a killed launcher drops out).
/// </summary>
public sealed class WorkloadBoard
{
    public static readonly TimeSpan DefaultExpiry = TimeSpan.FromSeconds(10);

    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, LauncherReport> _reports = new(StringComparer.Ordinal);

    public WorkloadBoard(TimeProvider? time = null, TimeSpan? expiry = null)
    {
        _time = time ?? TimeProvider.System;
        Expiry = expiry ?? DefaultExpiry;
    }

    public TimeSpan Expiry { get; }

    /// <summary>Replaces what <paramref name="launcher"/> reported before with <paramref name="processes"/>.</summary>
    public LauncherReport Report(string launcher, IReadOnlyList<WorkloadProcess> processes)
    {
        var report = new LauncherReport(launcher, _time.GetUtcNow(), processes.ToArray());
        lock (_gate) _reports[launcher] = report;
        return report;
    }

    /// <summary>Every launcher heard from within <see cref="Expiry"/>, ordered by launcher.</summary>
    public IReadOnlyList<LauncherReport> Current()
    {
        var oldest = _time.GetUtcNow() - Expiry;
        var live = new List<LauncherReport>();
        lock (_gate)
        {
            foreach (var (launcher, report) in _reports)
            {
                if (report.ReportedAt >= oldest) live.Add(report);
                else _reports.Remove(launcher);
            }
        }
        live.Sort((a, b) => string.CompareOrdinal(a.Launcher, b.Launcher));
        return live;
    }
}
