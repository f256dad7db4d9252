using System.Globalization;
using System.Threading.Channels;
using Weft.Control.Workloads;

namespace Weft.Cli.Up;

/// <summary>
/// Carries out operators' actions on this `weft up`'s replicas (`weft restart INSTANCE`, `weft stop
/// INSTANCE`), which the control plane hands over in the answer to a workload report; one at a time,
/// so a rolling restart never has two replicas out at once. Both take the replica out of service
/// without failing a request:
/// <list type="number">
/// <item>its endpoint leaves every proxy's config: the replica is reported draining, the control plane
///   leaves it out of every cluster, and `weft up` waits until no proxy it runs lists it in /clusters
///   (at most <see cref="ProxiesDeadline"/>; past it nothing is stopped and the action fails);</item>
/// <item>the requests already inside its app finish: its sidecar's inbound gauge reaches 0 (at most the
///   drain deadline, then it goes on and says so);</item>
/// <item>restart: the app gets SIGTERM and is started again (the sidecar keeps running, or is started
///   first if it was stopped); once the app listens, its endpoint comes back. Stop: the app, then the
///   sidecar, stop for good, and the endpoint stays out until a `weft restart`.</item>
/// </list>
/// </summary>
internal sealed class ReplicaControl : IAsyncDisposable
{
    public static readonly TimeSpan ProxiesDeadline = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan AppGrace = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan ProxyGrace = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan StartDeadline = TimeSpan.FromSeconds(60);
    private const int FinishedKept = 20;

    private readonly ProcessSupervisor _supervisor;
    private readonly TimeSpan _drainDeadline;
    private readonly TextWriter _log;
    private readonly Lock _gate = new();
    private readonly HashSet<string> _draining = new(StringComparer.Ordinal);
    private readonly List<WorkloadAction> _taken = [];
    private readonly Channel<WorkloadAction> _queue = Channel.CreateUnbounded<WorkloadAction>();
    private readonly TaskCompletionSource<LaunchPlan> _mesh = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _run;
    private int _disposed;

    public ReplicaControl(ProcessSupervisor supervisor, TimeSpan drainDeadline, TextWriter log)
    {
        _supervisor = supervisor;
        _drainDeadline = drainDeadline;
        _log = log;
        _run = Task.Run(RunAsync);
    }

    /// <summary>Raised when what a report carries (draining instances, actions' progress) changed.</summary>
    public event Action? Changed;

    /// <summary>Instances whose endpoints are to stay out of every proxy's config.</summary>
    public IReadOnlyList<string> Draining
    {
        get { lock (_gate) return _draining.Order(StringComparer.Ordinal).ToList(); }
    }

    /// <summary>The actions taken, with their progress: the unfinished ones and the last few finished.</summary>
    public IReadOnlyList<WorkloadAction> Actions
    {
        get { lock (_gate) return _taken.ToList(); }
    }

    /// <summary>Actions wait until the mesh is up, every replica started.</summary>
    public void MeshReady(LaunchPlan plan) => _mesh.TrySetResult(plan);

    /// <summary>Queues the actions the control plane handed over; those taken before are ignored (it hands them over until it hears of them).</summary>
    public void Take(IReadOnlyList<WorkloadAction> pending)
    {
        var added = false;
        lock (_gate)
        {
            foreach (var action in pending)
            {
                if (_taken.Exists(t => t.Id == action.Id)) continue;
                var queued = action with { State = WorkloadActionStates.Running, Message = "queued" };
                _taken.Add(queued);
                _queue.Writer.TryWrite(queued);
                added = true;
            }
        }
        if (added) Changed?.Invoke();
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        _queue.Writer.TryComplete();
        await _stop.CancelAsync();
        await _run;
        _stop.Dispose();
    }

    private async Task RunAsync()
    {
        try
        {
            var plan = await _mesh.Task.WaitAsync(_stop.Token);
            await foreach (var action in _queue.Reader.ReadAllAsync(_stop.Token))
            {
                try
                {
                    var outcome = await CarryOutAsync(action, plan, _stop.Token);
                    Update(action, WorkloadActionStates.Done, outcome);
                }
                catch (OperationCanceledException) when (_stop.IsCancellationRequested)
                {
                    Update(action, WorkloadActionStates.Failed, "weft up is stopping");
                    return;
                }
                catch (Exception e) when (e is ReplicaActionException or InvalidOperationException or TimeoutException)
                {
                    Update(action, WorkloadActionStates.Failed, e.Message);
                }
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
    }

    private async Task<string> CarryOutAsync(WorkloadAction action, LaunchPlan plan, CancellationToken ct)
    {
        var instance = action.Instance;
        var replica = plan.Replicas.FirstOrDefault(r => r.Instance == instance)
            ?? throw new ReplicaActionException($"{instance} is not a replica this weft up runs");
        List<(string Name, Uri Admin)> proxies = [.. plan.Replicas.Select(r => (r.ProxyName, r.AdminUrl))];
        if (plan.Gateway is { } gateway) proxies.Add((GatewayLaunch.ProcessName, gateway.AdminUrl));

        // Who routes to it now is who must route to it again once it is back.
        var routing = await ProxyEndpoints.RoutingToAsync(proxies, instance, ct);
        bool wasDraining;
        lock (_gate) wasDraining = !_draining.Add(instance);
        Progress(action, "withdrawing its endpoint from every proxy");
        Changed?.Invoke();
        var behind = await ProxyEndpoints.WaitAsync(proxies, instance, listed: false, ProxiesDeadline, ct);
        if (behind.Count > 0)
        {
            if (!wasDraining) SetDraining(instance, false);
            throw new ReplicaActionException(string.Create(CultureInfo.InvariantCulture,
                $"{string.Join(", ", behind)} still route to it after {ProxiesDeadline.TotalSeconds:0} s (is the control plane up?); nothing was stopped"));
        }

        Progress(action, string.Create(CultureInfo.InvariantCulture, $"endpoint withdrawn; waiting for the requests in flight to finish (at most {_drainDeadline.TotalSeconds:0.#} s)"));
        var busy = await InFlightRequests.WaitForNoneAsync([(instance, replica.AdminUrl)], _drainDeadline, ct);
        var unfinished = busy.Count == 0 ? "" : $" ({InFlightRequests.Describe(busy)} requests still in flight at the drain deadline)";

        if (action.Action == WorkloadActions.Stop)
        {
            Progress(action, "stopping the app, then its sidecar" + unfinished);
            if (_supervisor.Find(instance) is { } app) await app.StopAsync(AppGrace);
            if (_supervisor.Find(replica.ProxyName) is { } sidecar) await sidecar.StopAsync(ProxyGrace);
            return $"stopped{unfinished}; its endpoint stays withdrawn (`weft restart {instance}` starts it again)";
        }

        if (_supervisor.Find(replica.ProxyName) is { Status.State: ProcessState.Exited })
        {
            Progress(action, "starting its sidecar");
            await _supervisor.RestartAsync(replica.ProxyName, ProxyGrace);
            if (!await ReadinessProbe.WaitAsync(replica.AdminReadyUrl, StartDeadline, ct))
                throw new ReplicaActionException($"its sidecar was not ready within {StartDeadline.TotalSeconds:0} s; its endpoint stays withdrawn");
        }
        Progress(action, "restarting the app" + unfinished);
        await _supervisor.RestartAsync(instance, AppGrace);
        try
        {
            await AppListening.WaitAsync([replica], StartDeadline, ct);
        }
        catch (TimeoutException)
        {
            throw new ReplicaActionException(string.Create(CultureInfo.InvariantCulture,
                $"the app did not listen within {StartDeadline.TotalSeconds:0} s; its endpoint stays withdrawn (`weft restart {instance}` tries again)"));
        }
        SetDraining(instance, false);
        Progress(action, "the app listens; restoring its endpoint");
        var missing = await ProxyEndpoints.WaitAsync(routing, instance, listed: true, ProxiesDeadline, ct);
        return missing.Count == 0
            ? $"restarted{unfinished}; its endpoint is back"
            : $"restarted{unfinished}; its endpoint is restored, but {string.Join(", ", missing)} did not list it yet";
    }

    private void SetDraining(string instance, bool draining)
    {
        lock (_gate)
        {
            if (draining) _draining.Add(instance);
            else _draining.Remove(instance);
        }
        Changed?.Invoke();
    }

    private void Progress(WorkloadAction action, string message) => Update(action, WorkloadActionStates.Running, message);

    private void Update(WorkloadAction action, string state, string message)
    {
        lock (_gate)
        {
            var i = _taken.FindIndex(t => t.Id == action.Id);
            if (i >= 0) _taken[i] = _taken[i] with { State = state, Message = message };
            var finished = _taken.Where(t => WorkloadActionStates.IsFinal(t.State)).ToList();
            foreach (var old in finished.Take(finished.Count - FinishedKept)) _taken.Remove(old);
        }
        _log.WriteLine($"weft: {action.Action} {action.Instance}: {(state == WorkloadActionStates.Failed ? "failed: " : "")}{message}");
        Changed?.Invoke();
    }
}

/// <summary>An action on a replica could not be carried out; the message says why and what was left as it was.</summary>
internal sealed class ReplicaActionException(string message) : Exception(message);
