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
/// <param name="Draining">Instances whose endpoints the launcher wants out of every proxy's config (a graceful restart or stop under way, or a replica stopped for good).</param>
public sealed record LauncherReport(string Launcher, DateTimeOffset ReportedAt, IReadOnlyList<WorkloadProcess> Processes,
    IReadOnlyList<string>? Draining = null);

/// <summary>
/// An operator's request about one replica (`weft restart`, `weft stop`), carried out by the launcher
/// that runs it: the control plane hands it over in the answer to the launcher's next report, and the
/// launcher's reports carry its progress from then on.
/// </summary>
/// <param name="Id">Unique among this control plane's actions.</param>
/// <param name="Instance">The replica, e.g. <c>catalog-v1-0</c>.</param>
/// <param name="Action">One of <see cref="WorkloadActions"/>.</param>
/// <param name="Launcher">The launcher that runs the replica.</param>
/// <param name="State">One of <see cref="WorkloadActionStates"/>.</param>
/// <param name="Message">What the launcher is doing, or what came of it, in words.</param>
public sealed record WorkloadAction(string Id, string Instance, string Action, string Launcher, string State, string? Message, DateTimeOffset RequestedAt);

public static class WorkloadActions
{
    /// <summary>Withdraw the endpoint, let requests in flight finish, stop the app and start it again, restore the endpoint.</summary>
    public const string Restart = "restart";
    /// <summary>The same up to the stop; then the sidecar stops too and the endpoint stays withdrawn.</summary>
    public const string Stop = "stop";
    public static readonly IReadOnlyList<string> All = [Restart, Stop];
}

public static class WorkloadActionStates
{
    /// <summary>Requested; the launcher has not taken it yet.</summary>
    public const string Pending = "pending";
    public const string Running = "running";
    public const string Done = "done";
    public const string Failed = "failed";
    public static readonly IReadOnlyList<string> All = [Pending, Running, Done, Failed];

    public static bool IsFinal(string state) => state is Done or Failed;
}

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
