using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;

namespace Weft.Cli.Up;

/// <summary>
/// One supervised process: started, its output tagged onto the shared console, restarted with
/// backoff whenever it exits by itself, and stopped with SIGTERM then, past a deadline, SIGKILL.
/// </summary>
internal sealed class ManagedProcess
{
    private const int RecentLineCount = 200;
    // After the process exits its last lines may still be in the pipe (a busy machine drains slowly),
    // or a grandchild may hold the pipe open forever: wait for the former, bounded for the latter.
    private static readonly TimeSpan OutputDrainAfterExit = TimeSpan.FromSeconds(2);

    private readonly ConsoleTagWriter _console;
    private readonly RestartPolicy _policy;
    private readonly TimeProvider _time;
    private readonly Action? _changed;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _gate = new();
    private readonly Queue<string> _recent = new();
    private bool _stopRequested;      // guarded by _gate, with _current: a stop never misses a start
    private Process? _current;        // guarded by _gate
    private ProcessStatus _status;
    private Task _run = Task.CompletedTask;

    /// <param name="changed">Called after every change of <see cref="Status"/>, on the thread that made it.</param>
    internal ManagedProcess(ProcessSpec spec, ConsoleTagWriter console, RestartPolicy policy, TimeProvider time, Action? changed = null)
    {
        Spec = spec;
        _console = console;
        _policy = policy;
        _time = time;
        _changed = changed;
        _status = new ProcessStatus(spec.Name, spec.Role, ProcessState.Starting, null, 0, null, null);
    }

    public ProcessSpec Spec { get; }

    public ProcessStatus Status => Volatile.Read(ref _status);

    /// <summary>True once <see cref="StopAsync"/> was called: an exit from here on is a stop, not a crash.</summary>
    public bool StopRequested
    {
        get { lock (_gate) return _stopRequested; }
    }

    /// <summary>Completes when the process has exited for good (stopped, or exited without restart).</summary>
    public Task Completion => _run;

    /// <summary>The last lines it wrote (output and error), oldest first, for `weft up` logs.</summary>
    public IReadOnlyList<string> RecentOutput()
    {
        lock (_recent) return _recent.ToArray();
    }

    internal void Start() => _run = Task.Run(RunAsync);

    /// <summary>SIGTERM, then SIGKILL if it has not exited within <paramref name="grace"/>; waits for the exit.</summary>
    public async Task StopAsync(TimeSpan grace)
    {
        Process? process;
        lock (_gate)
        {
            _stopRequested = true;
            process = _current;
        }
        // Outside the lock: cancelling may run the restart loop's continuation inline.
        await _stopping.CancelAsync();
        if (process is not null) Signal(process, Posix.SIGTERM);

        if (await Task.WhenAny(_run, Task.Delay(grace, _time)) != _run)
        {
            lock (_gate) process = _current;
            if (process is not null)
            {
                Note($"did not stop within {grace.TotalSeconds:0.#} s: killing it");
                Signal(process, Posix.SIGKILL);
            }
        }
        await _run;
    }

    private async Task RunAsync()
    {
        var backoff = new RestartBackoff(_policy);
        var restarts = 0;
        int? lastExit = null;
        while (!_stopping.IsCancellationRequested)
        {
            SetStatus(ProcessState.Starting, null, restarts, lastExit, null);
            var startedAt = _time.GetTimestamp();
            Process process;
            try
            {
                process = await ChildLauncher.StartAsync(Spec);
            }
            catch (Exception e) when (e is Win32Exception or InvalidOperationException or IOException)
            {
                Note($"cannot start {Spec.FileName}: {e.Message}");
                if (!Spec.Restart || !await WaitBeforeRestartAsync("could not start", backoff.Next(TimeSpan.Zero), ++restarts, lastExit)) break;
                continue;
            }

            bool stopRequested;
            lock (_gate)
            {
                _current = process;
                stopRequested = _stopRequested;
            }
            // A stop that came while we were starting found nothing to signal: signal for it.
            if (stopRequested) Signal(process, Posix.SIGTERM);
            SetStatus(ProcessState.Running, process.Id, restarts, lastExit, _time.GetUtcNow());

            var output = Task.WhenAll(PumpAsync(process.StandardOutput), PumpAsync(process.StandardError));
            await process.WaitForExitAsync(CancellationToken.None);
            await Task.WhenAny(output, Task.Delay(OutputDrainAfterExit, _time));
            lastExit = process.ExitCode;
            lock (_gate) _current = null;
            process.Dispose();

            if (_stopping.IsCancellationRequested || !Spec.Restart)
            {
                Note($"exited with code {lastExit}");
                break;
            }
            var exited = string.Create(CultureInfo.InvariantCulture, $"exited with code {lastExit}");
            if (!await WaitBeforeRestartAsync(exited, backoff.Next(_time.GetElapsedTime(startedAt)), ++restarts, lastExit)) break;
        }
        SetStatus(ProcessState.Exited, null, Status.Restarts, lastExit ?? Status.LastExitCode, null);
    }

    /// <summary>False when a stop came during the wait.</summary>
    private async Task<bool> WaitBeforeRestartAsync(string what, TimeSpan delay, int restarts, int? lastExit)
    {
        SetStatus(ProcessState.Restarting, null, restarts, lastExit, null);
        Note(string.Create(CultureInfo.InvariantCulture, $"{what}; restart #{restarts} in {delay.TotalSeconds:0.###} s"));
        try
        {
            await Task.Delay(delay, _time, _stopping.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private async Task PumpAsync(StreamReader reader)
    {
        try
        {
            while (await reader.ReadLineAsync() is { } line)
            {
                _console.WriteLine(Spec.Name, line);
                Remember(line);
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            // The pipe went away with the process; what it wrote before is already out.
        }
    }

    private void Note(string line)
    {
        _console.WriteLine(Spec.Name, "weft: " + line);
        Remember("weft: " + line);
    }

    private void Remember(string line)
    {
        lock (_recent)
        {
            if (_recent.Count == RecentLineCount) _recent.Dequeue();
            _recent.Enqueue(line);
        }
    }

    private void SetStatus(ProcessState state, int? pid, int restarts, int? lastExit, DateTimeOffset? startedAt)
    {
        Volatile.Write(ref _status, new ProcessStatus(Spec.Name, Spec.Role, state, pid, restarts, lastExit, startedAt));
        _changed?.Invoke();
    }

    private static void Signal(Process process, int signal)
    {
        int pid;
        try
        {
            // The restart loop may have seen the exit and disposed it since we read it.
            if (process.HasExited) return;
            pid = process.Id;
        }
        catch (InvalidOperationException) // ObjectDisposedException included
        {
            return;
        }
        // Under the kernel guard the child leads its own process group: signal the group so what it
        // started goes too. Right after the start it may not have run setsid yet; then the pid alone.
        if (ChildLauncher.KernelGuard && Posix.Signal(-pid, signal)) return;
        if (signal == Posix.SIGKILL)
        {
            try { process.Kill(entireProcessTree: true); }
            catch (Exception e) when (e is InvalidOperationException or Win32Exception) { }
        }
        else Posix.Signal(pid, signal);
    }
}
