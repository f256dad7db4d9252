namespace Weft.Control.Workloads;

/// <summary>
/// One process a launcher (`weft up`) runs, as it last saw it (CONTRACT: a workload whose command exits
/// is restarted with backoff, and `weft status` shows it).
/// </summary>
/// <param name="Name">The launcher's name for it, unique per launcher: <c>catalog-v1-0</c>, <c>catalog-v1-0/proxy</c>.</param>
/// <param name="Instance">The mesh instance it belongs to; a sidecar's proxy id, e.g. <c>catalog-v1-0</c>.</param>
/// <param name="Role">One of <see cref="WorkloadRoles"/>.</param>
/// <param name="State">One of <see cref="WorkloadStates"/>.</param>
/// <param name="Restarts">How many times it was restarted after exiting by itself.</param>
/// <param name="LastExitCode">The code of its last exit, null while it has never exited.</param>
public sealed record WorkloadProcess(
    string Name,
    string Instance,
    string Role,
    string State,
    int? Pid,
    int Restarts,
    int? LastExitCode,
    DateTimeOffset? StartedAt);

/// <summary>Everything one launcher runs, as of its latest report.</summary>
public sealed record LauncherReport(string Launcher, DateTimeOffset ReportedAt, IReadOnlyList<WorkloadProcess> Processes);

public static class WorkloadRoles
{
    public const string App = "app", Proxy = "proxy", Gateway = "gateway", Control = "control";
    public static readonly IReadOnlyList<string> All = [App, Proxy, Gateway, Control];
}

public static class WorkloadStates
{
    /// <summary>Being launched (no pid yet): the first start, or the one after a restart's backoff.</summary>
    public const string Starting = "starting";
    public const string Running = "running";
    /// <summary>Exited by itself; the launcher waits out its backoff before starting it again.</summary>
    public const string Restarting = "restarting";
    /// <summary>Exited by itself and will not be started again.</summary>
    public const string Exited = "exited";
    /// <summary>Stopped by the launcher (shutdown).</summary>
    public const string Stopped = "stopped";
    public static readonly IReadOnlyList<string> All = [Starting, Running, Restarting, Exited, Stopped];
}
