using System.Diagnostics;
using System.Text.RegularExpressions;
using Weft.Cli.Up;
using static Weft.Integration.Up.UpTestSupport;

namespace Weft.Integration.Up;

public sealed class ProcessSupervisorTests
{
    private static readonly RestartPolicy Quick = new(TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(160), TimeSpan.FromSeconds(30));

    [Fact]
    public async Task Restarts_a_crashing_process_with_doubling_backoff()
    {
        var output = new CapturedOutput();
        await using var supervisor = new ProcessSupervisor(output, Quick);
        var crasher = supervisor.Start(Shell("crasher", "echo up; exit 3"));

        await WaitUntilAsync(() => crasher.Status.Restarts >= 5, "five restarts");
        await supervisor.StopAllAsync();

        Assert.Equal(3, crasher.Status.LastExitCode);
        Assert.Equal(ProcessState.Exited, crasher.Status.State);
        var notes = output.Lines.Where(l => l.Contains("restart #", StringComparison.Ordinal)).Take(5).ToArray();
        Assert.Equal(
        [
            "[crasher] weft: exited with code 3; restart #1 in 0.02 s",
            "[crasher] weft: exited with code 3; restart #2 in 0.04 s",
            "[crasher] weft: exited with code 3; restart #3 in 0.08 s",
            "[crasher] weft: exited with code 3; restart #4 in 0.16 s",
            "[crasher] weft: exited with code 3; restart #5 in 0.16 s",
        ], notes);
        Assert.True(output.Lines.Count(l => l == "[crasher] up") >= 5);
    }

    [Fact]
    public async Task A_command_that_cannot_start_is_retried_not_fatal()
    {
        var output = new CapturedOutput();
        await using var supervisor = new ProcessSupervisor(output, Quick);
        var missing = supervisor.Start(new ProcessSpec("missing", ProcessRole.App, "/nonexistent/app", [],
            new Dictionary<string, string>(), Path.GetTempPath()));

        await WaitUntilAsync(() => missing.Status.Restarts >= 2, "two retries");
        await supervisor.StopAllAsync();
        Assert.Equal(ProcessState.Exited, missing.Status.State);
    }

    [Fact]
    public async Task Stop_sends_SIGTERM_and_the_process_exits_at_once()
    {
        var output = new CapturedOutput();
        var supervisor = new ProcessSupervisor(output, Quick);
        var sleeper = supervisor.Start(Shell("sleeper", "echo ready; exec sleep 300"));
        await WaitUntilAsync(() => output.Has("[sleeper] ready"), "the sleeper is up");
        var pid = sleeper.Status.Pid!.Value;

        var watch = Stopwatch.StartNew();
        await sleeper.StopAsync(TimeSpan.FromSeconds(10));

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"took {watch.Elapsed}");
        Assert.Equal(128 + 15, sleeper.Status.LastExitCode);
        Assert.Equal(0, sleeper.Status.Restarts);
        Assert.True(IsGone(pid));
    }

    [Fact]
    public async Task A_process_that_ignores_SIGTERM_is_killed_after_the_deadline()
    {
        var output = new CapturedOutput();
        var supervisor = new ProcessSupervisor(output, Quick);
        // SIG_IGN survives exec, so the sleeps ignore TERM as well as the shell.
        var stubborn = supervisor.Start(Shell("stubborn", "trap '' TERM; echo ready; while :; do sleep 1; done"));
        await WaitUntilAsync(() => output.Has("[stubborn] ready"), "the stubborn process is up");
        var pid = stubborn.Status.Pid!.Value;

        var grace = TimeSpan.FromMilliseconds(400);
        var watch = Stopwatch.StartNew();
        await stubborn.StopAsync(grace);

        // The supervisor's timer starts a moment before our stopwatch and may fire a tick early: allow 50 ms.
        Assert.True(watch.Elapsed >= grace - TimeSpan.FromMilliseconds(50), $"killed after {watch.Elapsed}, before the grace period ended");
        Assert.True(watch.Elapsed < grace + TimeSpan.FromSeconds(5), $"took {watch.Elapsed}");
        Assert.Equal(128 + 9, stubborn.Status.LastExitCode);
        Assert.Contains("[stubborn] weft: did not stop within 0.4 s: killing it", output.Lines);
        Assert.True(IsGone(pid));
    }

    [Fact]
    public async Task Stop_leaves_no_process_behind_including_grandchildren()
    {
        var output = new CapturedOutput();
        var supervisor = new ProcessSupervisor(output, Quick);
        // A shell that forks (no exec): the grandchild must go with it.
        var parent = supervisor.Start(Shell("forker", "sleep 300 & echo child=$!; wait"));
        await WaitUntilAsync(() => output.Lines.Any(l => l.StartsWith("[forker] child=", StringComparison.Ordinal)), "the grandchild's pid");
        var shellPid = parent.Status.Pid!.Value;
        var grandchild = int.Parse(output.Lines.First(l => l.StartsWith("[forker] child=", StringComparison.Ordinal))["[forker] child=".Length..]);
        Assert.False(IsGone(grandchild));

        await supervisor.StopAllAsync();

        Assert.True(IsGone(shellPid));
        await WaitUntilAsync(() => IsGone(grandchild), "the grandchild is gone", TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Every_output_line_is_tagged_and_whole()
    {
        var output = new CapturedOutput();
        await using var supervisor = new ProcessSupervisor(output, Quick);
        var a = supervisor.Start(Shell("a", "i=0; while [ $i -lt 2000 ]; do echo aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa; i=$((i+1)); done; echo err-a >&2", restart: false));
        var b = supervisor.Start(Shell("b", "i=0; while [ $i -lt 2000 ]; do echo bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb; i=$((i+1)); done; echo err-b >&2", restart: false));
        await Task.WhenAll(a.Completion, b.Completion).WaitAsync(Deadline);

        var lines = output.Lines.Where(l => !l.Contains("weft:", StringComparison.Ordinal)).ToArray();
        Assert.Equal(4002, lines.Length);
        Assert.All(lines, l => Assert.Matches(new Regex(@"^\[(a)\] (a{65}|err-a)$|^\[(b)\] (b{65}|err-b)$"), l));
        Assert.Contains("[a] err-a", lines);
        Assert.Contains("[b] err-b", lines);
        Assert.Equal(ProcessState.Exited, a.Status.State);
        Assert.Equal(0, a.Status.LastExitCode);
        Assert.Equal(0, a.Status.Restarts);
        // The recent buffer keeps the last 200 lines; stdout and stderr are two pipes read side by side,
        // so where err-a lands among them is not ordered: check the buffer's size and contents instead.
        var recent = a.RecentOutput();
        Assert.Equal(200, recent.Count);
        Assert.All(recent, l => Assert.Matches(new Regex("^(a{65}|err-a|weft: .*)$"), l));
    }

    [Fact]
    public async Task A_gone_console_does_not_block_a_chatty_child()
    {
        await using var supervisor = new ProcessSupervisor(new BrokenConsole(), Quick);
        // Far more than a pipe holds: the child finishes only if we keep draining its output.
        var chatty = supervisor.Start(Shell("chatty", "yes weft | head -n 200000", restart: false));
        await chatty.Completion.WaitAsync(Deadline);
        Assert.Equal(0, chatty.Status.LastExitCode);
    }

    private sealed class BrokenConsole : TextWriter
    {
        public override System.Text.Encoding Encoding => System.Text.Encoding.UTF8;
        public override void WriteLine(string? value) => throw new IOException("Broken pipe");
    }

    [Fact]
    public async Task Stop_all_stops_apps_before_proxies_before_the_control_plane()
    {
        var output = new CapturedOutput();
        var supervisor = new ProcessSupervisor(output, Quick);
        var order = new List<string>();
        // Each records when TERM reaches it, then exits.
        ProcessSpec Recording(string name, ProcessRole role) =>
            new(name, role, "/bin/sh", ["-c", $"trap 'echo term; exit 0' TERM; echo ready; while :; do sleep 0.05; done"],
                new Dictionary<string, string>(), Path.GetTempPath());
        supervisor.Start(Recording("control", ProcessRole.ControlPlane));
        supervisor.Start(Recording("proxy", ProcessRole.Proxy));
        supervisor.Start(Recording("app", ProcessRole.App));
        await WaitUntilAsync(() => output.Lines.Count(l => l.EndsWith("] ready", StringComparison.Ordinal)) == 3, "all three up");

        var watch = Stopwatch.StartNew();
        await supervisor.StopAllAsync();
        Assert.True(watch.Elapsed < ProcessSupervisor.DefaultStopBudget, $"took {watch.Elapsed}");

        var terms = output.Lines.Where(l => l.EndsWith("] term", StringComparison.Ordinal)).ToArray();
        Assert.Equal(["[app] term", "[proxy] term", "[control] term"], terms);
        Assert.All(supervisor.Status(), s => Assert.Equal(ProcessState.Exited, s.State));
    }

    [Fact]
    public async Task Restart_stops_the_process_and_starts_a_new_one_in_its_place_until_the_supervisor_stops()
    {
        var output = new CapturedOutput();
        var supervisor = new ProcessSupervisor(output, Quick);
        var first = supervisor.Start(Shell("app", "echo started; exec sleep 300"));
        await WaitUntilAsync(() => first.Status.State == ProcessState.Running, "the app runs");
        var oldPid = first.Status.Pid!.Value;

        var second = await supervisor.RestartAsync("app", TimeSpan.FromSeconds(5));
        await WaitUntilAsync(() => second.Status.State == ProcessState.Running, "the app runs again");

        Assert.True(IsGone(oldPid));
        Assert.Equal((ProcessState.Exited, 128 + 15), (first.Status.State, first.Status.LastExitCode));
        Assert.NotEqual(oldPid, second.Status.Pid);
        Assert.Same(second, Assert.Single(supervisor.Processes));
        Assert.Equal(2, output.Lines.Count(l => l == "[app] started"));

        await supervisor.StopAllAsync();
        Assert.Equal(ProcessState.Exited, second.Status.State);
        await Assert.ThrowsAsync<InvalidOperationException>(() => supervisor.RestartAsync("app", TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task Names_are_unique_and_status_lists_every_process()
    {
        var output = new CapturedOutput();
        await using var supervisor = new ProcessSupervisor(output, Quick);
        supervisor.Start(Shell("one", "exec sleep 300"));
        Assert.Throws<ArgumentException>(() => supervisor.Start(Shell("one", "exec sleep 300")));
        await WaitUntilAsync(() => supervisor.Status().Single().State == ProcessState.Running, "running");
        var status = supervisor.Status().Single();
        Assert.Equal("one", status.Name);
        Assert.NotNull(status.Pid);
        Assert.NotNull(status.StartedAt);
    }

    [Fact]
    public void The_kernel_guard_wraps_the_command_in_setpriv_and_setsid()
    {
        var spec = Shell("x", "echo hi");
        var (file, args) = ChildLauncher.GuardedCommand(spec, kernelGuard: true);
        Assert.Equal("/usr/bin/setpriv", file);
        Assert.Equal(["--pdeathsig", "KILL", "--", "/usr/bin/setsid", "/bin/sh", "-c", "echo hi"], args);
        var (plainFile, plainArgs) = ChildLauncher.GuardedCommand(spec, kernelGuard: false);
        Assert.Equal("/bin/sh", plainFile);
        Assert.Equal(["-c", "echo hi"], plainArgs);
        Assert.True(ChildLauncher.KernelGuard, "setpriv and setsid (util-linux) should be on this Debian machine");
    }

    [Fact]
    public async Task A_guarded_child_dies_when_its_parent_is_killed_with_SIGKILL()
    {
        // The parent here is a shell standing in for `weft up`; it starts the same guarded command line.
        var (file, args) = ChildLauncher.GuardedCommand(Shell("x", "exec sleep 300"), kernelGuard: true);
        var parent = new ProcessStartInfo("/bin/sh") { RedirectStandardOutput = true };
        foreach (var a in (string[])["-c", "\"$@\" & echo $!; wait", "sh", file, .. args]) parent.ArgumentList.Add(a);
        using var shell = Process.Start(parent)!;
        var line = await shell.StandardOutput.ReadLineAsync().WaitAsync(Deadline);
        var child = int.Parse(line!);
        await WaitUntilAsync(() => File.Exists($"/proc/{child}/cmdline") && File.ReadAllText($"/proc/{child}/cmdline").StartsWith("sleep", StringComparison.Ordinal), "the guarded child runs sleep");

        shell.Kill(); // SIGKILL: the parent gets no chance to clean up
        await shell.WaitForExitAsync().WaitAsync(Deadline);

        await WaitUntilAsync(() => IsGone(child), "the orphan was killed by the kernel", TimeSpan.FromSeconds(5));
    }
}
