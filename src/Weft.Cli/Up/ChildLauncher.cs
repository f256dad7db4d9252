using System.Collections.Concurrent;
using System.Diagnostics;

namespace Weft.Cli.Up;

/// <summary>
/// Starts child processes so that none outlives `weft up`, even when it is killed with SIGKILL.
/// </summary>
/// <remarks>
/// Why this shape (Linux): a graceful stop is the supervisor's job (SIGTERM, drain, SIGKILL), but
/// nothing of ours runs after a SIGKILL, so the kernel must do it. PR_SET_PDEATHSIG makes the kernel
/// signal a child when its parent dies, but it must be set inside the child between fork and exec,
/// which Process.Start does not allow. util-linux (Essential on Debian, so always present) has a
/// tool for each step, and each one execs the next in the same pid:
///   setpriv --pdeathsig KILL -- setsid COMMAND ARGS...
/// - pdeathsig KILL: the kernel kills the child when we die, however we die. It survives the execs.
/// - setsid: the child leads its own process group, so a stop signals the group (`sh -c` wrappers
///   and their children alike), and a terminal's Ctrl-C reaches only `weft up`, which then stops the
///   processes in order (apps, proxies, control plane) instead of all at once.
/// The death signal fires when the *thread* that forked the child exits, not the process; a
/// thread-pool thread can retire at any time, so every child is started from one dedicated thread
/// that lives as long as the process.
/// Without setpriv (not Linux, or a trimmed image) children start directly: they still get
/// WEFT_PARENT_PID, which weft's own control plane and proxies watch, and the graceful stop works.
/// A pidfile reaped by the next `weft up` was the alternative; it cannot help until the next run and
/// risks signalling a recycled pid, so the kernel mechanism won.
/// </remarks>
internal static class ChildLauncher
{
    private const string SetPriv = "/usr/bin/setpriv";
    private const string SetSid = "/usr/bin/setsid";

    /// <summary>Whether children are tied to our life by the kernel (setpriv and setsid found).</summary>
    public static readonly bool KernelGuard = OperatingSystem.IsLinux() && File.Exists(SetPriv) && File.Exists(SetSid);

    private static readonly BlockingCollection<(ProcessStartInfo Info, TaskCompletionSource<Process> Started)> Requests = [];
    private static readonly Lazy<Thread> Launcher = new(() =>
    {
        var thread = new Thread(LaunchLoop) { IsBackground = true, Name = "weft-child-launcher" };
        thread.Start();
        return thread;
    });

    /// <summary>The command line that runs <paramref name="spec"/> under the guard (pure; tested).</summary>
    public static (string FileName, IReadOnlyList<string> Arguments) GuardedCommand(ProcessSpec spec, bool kernelGuard)
    {
        if (!kernelGuard) return (spec.FileName, spec.Arguments);
        var args = new List<string>(spec.Arguments.Count + 5) { "--pdeathsig", "KILL", "--", SetSid, spec.FileName };
        args.AddRange(spec.Arguments);
        return (SetPriv, args);
    }

    /// <summary>Starts the process on the launcher thread; output and error are piped, input is closed.</summary>
    public static Task<Process> StartAsync(ProcessSpec spec)
    {
        var (fileName, arguments) = GuardedCommand(spec, KernelGuard);
        var info = new ProcessStartInfo(fileName)
        {
            WorkingDirectory = spec.WorkingDirectory,
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var a in arguments) info.ArgumentList.Add(a);
        foreach (var (k, v) in spec.Environment) info.Environment[k] = v;
        info.Environment["WEFT_PARENT_PID"] = Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);

        var started = new TaskCompletionSource<Process>(TaskCreationOptions.RunContinuationsAsynchronously);
        _ = Launcher.Value;
        Requests.Add((info, started));
        return started.Task;
    }

    private static void LaunchLoop()
    {
        foreach (var (info, started) in Requests.GetConsumingEnumerable())
        {
            try
            {
                var process = Process.Start(info) ?? throw new InvalidOperationException($"{info.FileName} did not start");
                // Nothing is ever typed into a child: EOF now, so one that reads stdin does not hang.
                process.StandardInput.Close();
                started.SetResult(process);
            }
            catch (Exception e)
            {
                started.SetException(e);
            }
        }
    }
}
