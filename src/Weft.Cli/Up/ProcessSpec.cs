namespace Weft.Cli.Up;

/// <summary>
/// What a process is to `weft up`; the order of the values is the start order, and stop runs it
/// backwards: apps drain first while their sidecars still carry traffic, the control plane goes last.
/// </summary>
internal enum ProcessRole
{
    ControlPlane = 0,
    Proxy = 1,
    App = 2,
}

/// <summary>One process to keep running: the command, its env (on top of ours) and where it runs.</summary>
/// <param name="Name">The tag its output lines carry, e.g. <c>catalog-v1-0</c>; unique per supervisor.</param>
/// <param name="Restart">False for a process whose exit is final (it is reported, not restarted).</param>
internal sealed record ProcessSpec(
    string Name,
    ProcessRole Role,
    string FileName,
    IReadOnlyList<string> Arguments,
    IReadOnlyDictionary<string, string> Environment,
    string WorkingDirectory,
    bool Restart = true);

internal enum ProcessState
{
    Starting,
    Running,
    /// <summary>Exited on its own; waiting out the backoff before the next start.</summary>
    Restarting,
    /// <summary>Exited and will not run again (stopped, or a spec without restart).</summary>
    Exited,
}

/// <summary>A point-in-time view of one supervised process, for `weft status` and logs.</summary>
internal sealed record ProcessStatus(
    string Name,
    ProcessRole Role,
    ProcessState State,
    int? Pid,
    int Restarts,
    int? LastExitCode,
    DateTimeOffset? StartedAt);
