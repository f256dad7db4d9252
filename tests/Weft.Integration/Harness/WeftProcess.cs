using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace Weft.Integration.Harness;

/// <summary>
/// The built `weft` CLI as a real child process: its output is collected line by line so a test can
/// wait for a line with a deadline; disposing stops it (SIGTERM, then SIGKILL) and everything it started.
/// </summary>
public sealed class WeftProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly List<string> _lines = [];
    private readonly object _gate = new();
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private WeftProcess(Process process) => _process = process;

    public int Pid => _process.Id;
    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;

    public string Output
    {
        get { lock (_gate) return string.Join('\n', _lines); }
    }

    /// <param name="weftDll">Another build of weft to run (a copy somewhere else); default: this checkout's.</param>
    /// <remarks>
    /// Started as a terminal starts it, with SIGINT at its default: a test run launched in the background
    /// by a non-interactive shell inherits SIGINT ignored, .NET then leaves it ignored, and a test's
    /// "Ctrl-C" would never reach weft up (GNU env's --default-signal undoes that, then execs).
    /// </remarks>
    internal static WeftProcess Start(IEnumerable<string> args, IReadOnlyDictionary<string, string>? env = null, string? workingDirectory = null,
        string? weftDll = null) =>
        StartCommand("env", ["--default-signal=INT", "dotnet", weftDll ?? Repo.WeftDll, .. args], env, workingDirectory);

    /// <summary>Any command (weft under a wrapper such as unshare), its output collected like weft's.</summary>
    internal static WeftProcess StartCommand(string fileName, IEnumerable<string> args, IReadOnlyDictionary<string, string>? env = null, string? workingDirectory = null)
    {
        var psi = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Repo.Root,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (env is not null) foreach (var (k, v) in env) psi.Environment[k] = v;
        var p = new WeftProcess(new Process { StartInfo = psi, EnableRaisingEvents = true });
        p._process.OutputDataReceived += (_, e) => p.Append(e.Data);
        p._process.ErrorDataReceived += (_, e) => p.Append(e.Data);
        p._process.Exited += (_, _) => p.Signal();
        p._process.Start();
        p._process.BeginOutputReadLine();
        p._process.BeginErrorReadLine();
        return p;
    }

    /// <summary>Runs a short command to completion and returns its exit code and output.</summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(IEnumerable<string> args, TimeSpan timeout, string? stdin = null, IReadOnlyDictionary<string, string>? env = null)
    {
        await using var p = Start(args, env);
        if (stdin is not null) await p._process.StandardInput.WriteAsync(stdin);
        p._process.StandardInput.Close();
        using var cts = new CancellationTokenSource(timeout);
        try { await p._process.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException) { throw new TimeoutException($"weft {string.Join(' ', args)} did not finish in {timeout}:\n{p.Output}"); }
        p._process.WaitForExit(); // drains the asynchronous output readers
        return (p._process.ExitCode, p.Output);
    }

    /// <summary>Waits until a line matches, or fails with everything printed so far.</summary>
    public async Task<Match> WaitForLineAsync(string pattern, TimeSpan timeout)
    {
        var regex = new Regex(pattern);
        var deadline = DateTime.UtcNow + timeout;
        var seen = 0;
        while (true)
        {
            Task changed;
            lock (_gate)
            {
                for (; seen < _lines.Count; seen++)
                {
                    var m = regex.Match(_lines[seen]);
                    if (m.Success) return m;
                }
                changed = _changed.Task;
            }
            if (_process.HasExited && changed.IsCompleted is false && seen >= _lines.Count)
            {
                _process.WaitForExit();
                lock (_gate) if (seen >= _lines.Count) throw new InvalidOperationException($"process exited ({_process.ExitCode}) before printing /{pattern}/:\n{Output}");
                continue;
            }
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero) throw new TimeoutException($"no line matched /{pattern}/ within {timeout}:\n{Output}");
            try { await changed.WaitAsync(left < TimeSpan.FromSeconds(1) ? left : TimeSpan.FromSeconds(1)); }
            catch (TimeoutException) { }
        }
    }

    public void Signal(int signal) => Posix.Kill(_process.Id, signal);

    /// <summary>Waits for exit within the deadline; false if still running.</summary>
    public async Task<bool> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try { await _process.WaitForExitAsync(cts.Token); return true; }
        catch (OperationCanceledException) { return false; }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            Signal(Posix.SIGTERM);
            if (!await WaitForExitAsync(TimeSpan.FromSeconds(15)))
            {
                try { _process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
                await WaitForExitAsync(TimeSpan.FromSeconds(5));
            }
        }
        _process.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null) return;
        lock (_gate) _lines.Add(line);
        Signal();
    }

    private void Signal()
    {
        TaskCompletionSource old;
        lock (_gate) { old = _changed; _changed = new(TaskCreationOptions.RunContinuationsAsynchronously); }
        old.TrySetResult();
    }
}
