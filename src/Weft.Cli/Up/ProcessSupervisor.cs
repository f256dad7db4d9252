namespace Weft.Cli.Up;

/// <summary>
/// Every process `weft up` runs. Stop order is by role: apps first (they drain while their
/// sidecars still carry traffic), then proxies, then the control plane, all within one budget.
/// </summary>
internal sealed class ProcessSupervisor : IAsyncDisposable
{
    public static readonly TimeSpan DefaultStopBudget = TimeSpan.FromSeconds(10);

    private readonly RestartPolicy _policy;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private readonly List<ManagedProcess> _processes = [];
    private Task? _stop;

    public ProcessSupervisor(TextWriter output, RestartPolicy? policy = null, TimeProvider? time = null)
    {
        Console = new ConsoleTagWriter(output);
        _policy = policy ?? RestartPolicy.Default;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>The shared console; `weft up` writes its own tagged lines here too.</summary>
    public ConsoleTagWriter Console { get; }

    /// <summary>
    /// Raised after any process's status changed (on the thread that changed it: keep handlers short and
    /// non-blocking). With <see cref="Processes"/>, what a reporter needs to follow every change.
    /// </summary>
    public event Action? StatusChanged;

    public IReadOnlyList<ManagedProcess> Processes
    {
        get { lock (_gate) return _processes.ToArray(); }
    }

    /// <summary>Starts supervising; the process runs (and restarts) until stopped.</summary>
    public ManagedProcess Start(ProcessSpec spec)
    {
        var process = new ManagedProcess(spec, Console, _policy, _time, () => StatusChanged?.Invoke());
        lock (_gate)
        {
            if (_stop is not null) throw new InvalidOperationException("the supervisor is stopping");
            if (_processes.Exists(p => p.Spec.Name == spec.Name))
                throw new ArgumentException($"a process named {spec.Name} is already supervised", nameof(spec));
            _processes.Add(process);
        }
        process.Start();
        return process;
    }

    public IReadOnlyList<ProcessStatus> Status() => Processes.Select(p => p.Status).ToArray();

    public ManagedProcess? Find(string name)
    {
        lock (_gate) return _processes.Find(p => p.Spec.Name == name);
    }

    /// <summary>
    /// Stops the process named <paramref name="name"/> (SIGTERM, SIGKILL after <paramref name="grace"/>) if it
    /// runs, and starts it again from the same spec, as a new process whose restart count starts at 0.
    /// </summary>
    /// <exception cref="InvalidOperationException">The supervisor is stopping.</exception>
    public async Task<ManagedProcess> RestartAsync(string name, TimeSpan grace)
    {
        ManagedProcess old;
        lock (_gate)
        {
            if (_stop is not null) throw new InvalidOperationException("the supervisor is stopping");
            old = _processes.Find(p => p.Spec.Name == name) ?? throw new ArgumentException($"no process named {name}", nameof(name));
        }
        await old.StopAsync(grace);
        var fresh = new ManagedProcess(old.Spec, Console, _policy, _time, () => StatusChanged?.Invoke());
        lock (_gate)
        {
            if (_stop is not null) throw new InvalidOperationException("the supervisor is stopping");
            _processes[_processes.IndexOf(old)] = fresh;
        }
        // A stop from here on finds it in the list; one that came first keeps it from ever starting.
        fresh.Start();
        return fresh;
    }

    /// <summary>Stops everything, apps then proxies then the control plane, within <paramref name="budget"/> (default 10 s).</summary>
    public Task StopAllAsync(TimeSpan? budget = null)
    {
        lock (_gate) return _stop ??= StopInOrderAsync(budget ?? DefaultStopBudget);
    }

    public async ValueTask DisposeAsync() => await StopAllAsync();

    private async Task StopInOrderAsync(TimeSpan budget)
    {
        var start = _time.GetTimestamp();
        // Each phase may use the budget up to its mark; the rest is kept for SIGKILL and exit.
        (ProcessRole Role, double Until)[] phases = [(ProcessRole.App, 0.55), (ProcessRole.Proxy, 0.8), (ProcessRole.ControlPlane, 0.95)];
        var processes = Processes;
        foreach (var (role, until) in phases)
        {
            var grace = budget * until - _time.GetElapsedTime(start);
            if (grace < TimeSpan.FromMilliseconds(100)) grace = TimeSpan.FromMilliseconds(100);
            await Task.WhenAll(processes.Where(p => p.Spec.Role == role).Select(p => p.StopAsync(grace)));
        }
    }
}
