using System.Globalization;
using Weft.Cli.Commands;
using Weft.Control.Api;
using Weft.Control.Workloads;

namespace Weft.Cli.Up;

/// <summary>
/// Tells the control plane what `weft up` runs (PUT /api/v1/workloads), for `weft status`: every
/// <see cref="DefaultInterval"/> and at once on every state change. A report that fails is dropped and the
/// next one goes on the next tick or change: the control plane may be restarting, and the next report
/// carries the whole picture anyway. With <see cref="ReplicaControl"/>, reports also carry the
/// instances it drains and its actions' progress, and the actions the control plane answers with go to it.
/// </summary>
internal sealed class WorkloadReporter : IAsyncDisposable
{
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromSeconds(1);
    // A control plane that accepts but does not answer holds the next report up for at most this long.
    private static readonly TimeSpan AttemptTimeout = TimeSpan.FromSeconds(2);

    private readonly ProcessSupervisor _supervisor;
    private readonly ReplicaControl? _replicas;
    private readonly ApiClient _client;
    private readonly string _launcher;
    private readonly TimeSpan _interval;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stop = new();
    private TaskCompletionSource _changed = NewSignal();
    private Task _run = Task.CompletedTask;

    private WorkloadReporter(ProcessSupervisor supervisor, ReplicaControl? replicas, Uri control, string? dataDir, string launcher, TimeSpan interval, TimeProvider time)
    {
        _supervisor = supervisor;
        _replicas = replicas;
        _client = new ApiClient(control, dataDir);
        _launcher = launcher;
        _interval = interval;
        _time = time;
    }

    /// <summary>Starts reporting <paramref name="supervisor"/>'s processes to the control plane at <paramref name="control"/>.</summary>
    /// <param name="launcher">This launcher's name on the board; default host/pid.</param>
    /// <param name="dataDir">The control plane's data dir, when this process started it: its API token is there.</param>
    public static WorkloadReporter Start(ProcessSupervisor supervisor, Uri control, string? launcher = null,
        TimeSpan? interval = null, TimeProvider? time = null, ReplicaControl? replicas = null, string? dataDir = null)
    {
        var reporter = new WorkloadReporter(supervisor, replicas, control, dataDir,
            launcher ?? $"{Environment.MachineName}/{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}",
            interval ?? DefaultInterval, time ?? TimeProvider.System);
        supervisor.StatusChanged += reporter.OnStatusChanged;
        if (replicas is not null) replicas.Changed += reporter.OnStatusChanged;
        reporter._run = Task.Run(reporter.RunAsync);
        return reporter;
    }

    /// <summary>Stops reporting; returns once no report is in flight. Safe to call more than once.</summary>
    public async ValueTask DisposeAsync()
    {
        _supervisor.StatusChanged -= OnStatusChanged;
        if (_replicas is not null) _replicas.Changed -= OnStatusChanged;
        await _stop.CancelAsync();
        await _run;
        _client.Dispose();
    }

    /// <summary>How the control plane's board describes one supervised process.</summary>
    internal static WorkloadProcess Describe(ManagedProcess process)
    {
        var status = process.Status;
        var (role, instance) = process.Spec.Role switch
        {
            ProcessRole.App => (WorkloadRoles.App, status.Name),
            ProcessRole.ControlPlane => (WorkloadRoles.Control, status.Name),
            ProcessRole.Proxy when status.Name.EndsWith(ReplicaLaunch.ProxySuffix, StringComparison.Ordinal) =>
                (WorkloadRoles.Proxy, status.Name[..^ReplicaLaunch.ProxySuffix.Length]),
            _ => (WorkloadRoles.Gateway, status.Name),
        };
        var state = status.State switch
        {
            ProcessState.Starting => WorkloadStates.Starting,
            ProcessState.Running => WorkloadStates.Running,
            ProcessState.Restarting => WorkloadStates.Restarting,
            _ => process.StopRequested ? WorkloadStates.Stopped : WorkloadStates.Exited,
        };
        return new WorkloadProcess(status.Name, instance, role, state, status.Pid, status.Restarts, status.LastExitCode, status.StartedAt);
    }

    private void OnStatusChanged() => Volatile.Read(ref _changed).TrySetResult();

    private async Task RunAsync()
    {
        var stop = _stop.Token;
        while (!stop.IsCancellationRequested)
        {
            // Armed before the report is taken: a change while it is in flight sends another at once.
            var changed = NewSignal();
            Volatile.Write(ref _changed, changed);
            await ReportAsync(stop);

            using var tick = CancellationTokenSource.CreateLinkedTokenSource(stop);
            await Task.WhenAny(changed.Task, Task.Delay(_interval, _time, tick.Token));
            await tick.CancelAsync();
        }
    }

    private async Task ReportAsync(CancellationToken stop)
    {
        var report = new WorkloadsReport(_launcher, _supervisor.Processes.Select(Describe).ToList(), _replicas?.Draining, _replicas?.Actions);
        try
        {
            // Not OK (an older control plane without /workloads, a restart under way) is dropped like a failure.
            var response = await _client.PutAsync("workloads", report, stop, AttemptTimeout);
            if (response.Ok && _replicas is not null && response.Read<WorkloadsResponse>().Actions is { Count: > 0 } actions)
                _replicas.Take(actions);
        }
        catch (ControlUnreachableException)
        {
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidDataException)
        {
            // An answer we cannot read hands over no action; the next report asks again.
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
