using System.Globalization;

namespace Weft.Control.Workloads;

/// <summary>
/// The launchers' live view of their processes, in memory only: each report replaces that launcher's
/// previous one, and a launcher silent for <see cref="Expiry"/> is gone (it reports every second, so a
/// restarted control plane has the view again almost at once, and a killed launcher drops out).
/// Also the operators' actions on replicas (<see cref="WorkloadAction"/>), handed to the launcher that
/// runs the replica, and the instances launchers are draining.
/// </summary>
public sealed class WorkloadBoard
{
    public static readonly TimeSpan DefaultExpiry = TimeSpan.FromSeconds(10);
    // Finished actions kept for `weft restart` to read the outcome of; the oldest go first.
    private const int FinishedActionsKept = 100;

    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, LauncherReport> _reports = new(StringComparer.Ordinal);
    private readonly Dictionary<string, WorkloadAction> _actions = new(StringComparer.Ordinal);
    private readonly string _run = Guid.NewGuid().ToString("N")[..6];
    private long _nextAction;
    private IReadOnlySet<string> _draining = new HashSet<string>(StringComparer.Ordinal);

    public WorkloadBoard(TimeProvider? time = null, TimeSpan? expiry = null)
    {
        _time = time ?? TimeProvider.System;
        Expiry = expiry ?? DefaultExpiry;
    }

    public TimeSpan Expiry { get; }

    /// <summary>
    /// Raised, outside any lock, when the instances live launchers drain change (checked on every
    /// report); the argument is the new set. The registry leaves their endpoints out.
    /// </summary>
    public event Action<IReadOnlySet<string>>? DrainingChanged;

    /// <summary>
    /// Replaces what <paramref name="launcher"/> reported before with <paramref name="processes"/> and
    /// <paramref name="draining"/>; <paramref name="actions"/> is the launcher's word on the actions it took.
    /// </summary>
    public LauncherReport Report(string launcher, IReadOnlyList<WorkloadProcess> processes, IReadOnlyList<string>? draining = null,
        IReadOnlyList<WorkloadAction>? actions = null)
    {
        var report = new LauncherReport(launcher, _time.GetUtcNow(), processes.ToArray(), draining?.ToArray() ?? []);
        IReadOnlySet<string>? changed = null;
        lock (_gate)
        {
            _reports[launcher] = report;
            foreach (var taken in actions ?? [])
                if (_actions.TryGetValue(taken.Id, out var known) && known.Launcher == launcher)
                    _actions[taken.Id] = known with { State = taken.State, Message = taken.Message };
            var now = LiveReports().SelectMany(r => r.Draining ?? []).ToHashSet(StringComparer.Ordinal);
            if (!now.SetEquals(_draining)) changed = _draining = now;
        }
        if (changed is not null) DrainingChanged?.Invoke(changed);
        return report;
    }

    /// <summary>Every launcher heard from within <see cref="Expiry"/>, ordered by launcher.</summary>
    public IReadOnlyList<LauncherReport> Current()
    {
        List<LauncherReport> live;
        lock (_gate) live = LiveReports();
        live.Sort((a, b) => string.CompareOrdinal(a.Launcher, b.Launcher));
        return live;
    }

    /// <summary>
    /// Asks the launcher that runs the app of <paramref name="instance"/> to carry out <paramref name="action"/>;
    /// null when no live launcher reports such an app.
    /// </summary>
    public WorkloadAction? Request(string instance, string action)
    {
        lock (_gate)
        {
            // Two launchers claiming one instance: the latest report wins, as in `weft status`.
            var launcher = LiveReports().Where(r => r.Processes.Any(p => p.Role == WorkloadRoles.App && p.Instance == instance))
                .OrderByDescending(r => r.ReportedAt).FirstOrDefault()?.Launcher;
            if (launcher is null) return null;
            var id = string.Create(CultureInfo.InvariantCulture, $"{_run}-{++_nextAction}");
            var request = new WorkloadAction(id, instance, action, launcher, WorkloadActionStates.Pending, null, _time.GetUtcNow());
            _actions[id] = request;
            Forget();
            return request;
        }
    }

    /// <summary>The actions <paramref name="launcher"/> has not taken yet, oldest first: the answer to its report.</summary>
    public IReadOnlyList<WorkloadAction> PendingFor(string launcher)
    {
        lock (_gate)
            return _actions.Values.Where(a => a.Launcher == launcher && a.State == WorkloadActionStates.Pending).OrderBy(a => a.RequestedAt).ToList();
    }

    public WorkloadAction? Action(string id)
    {
        lock (_gate) return _actions.GetValueOrDefault(id);
    }

    /// <summary>Every action still known, oldest first.</summary>
    public IReadOnlyList<WorkloadAction> Actions()
    {
        lock (_gate) return _actions.Values.OrderBy(a => a.RequestedAt).ThenBy(a => a.Id, StringComparer.Ordinal).ToList();
    }

    // Caller holds _gate.
    private List<LauncherReport> LiveReports()
    {
        var oldest = _time.GetUtcNow() - Expiry;
        var live = new List<LauncherReport>();
        foreach (var (launcher, report) in _reports)
        {
            if (report.ReportedAt >= oldest) live.Add(report);
            else _reports.Remove(launcher);
        }
        return live;
    }

    // Caller holds _gate.
    private void Forget()
    {
        var finished = _actions.Values.Where(a => WorkloadActionStates.IsFinal(a.State)).OrderBy(a => a.RequestedAt).ToList();
        foreach (var old in finished.Take(finished.Count - FinishedActionsKept)) _actions.Remove(old.Id);
    }
}
