using System.Text.RegularExpressions;
using Weft.Cli.Up.Isolation;
using Weft.Integration.Harness;
using Xunit.Abstractions;

namespace Weft.Integration.Transparent;

/// <summary>
/// Issue 12, a locked control plane: with `--isolation netns` an app runs as an unprivileged uid with
/// no capabilities, so it can neither flush its namespace's interception rules nor leave the
/// namespace; and an app that uid could not start stops `weft up` before anything runs.
/// </summary>
public sealed class LockedAppTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "weft-locked-" + Guid.NewGuid().ToString("N")[..8]);

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    /// <summary>What the client app tries as soon as it starts, each result on a `locked:` line, then it stays.</summary>
    private const string Probe = """
        PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
        echo "locked: uid=$(id -u) gid=$(id -g) groups=$(id -G) cap-eff=$(sed -n 's/^CapEff:\t//p' /proc/self/status) iptables=$(command -v iptables)"
        iptables -t nat -F 2>&1; echo "locked: flush=$?"
        iptables -t nat -D OUTPUT -p tcp -j WEFT_OUTPUT 2>&1; echo "locked: delete=$?"
        nsenter --net=/proc/1/ns/net true 2>&1; echo "locked: nsenter=$?"
        unshare --net true 2>&1; echo "locked: unshare=$?"
        unshare --user --map-root-user iptables -t nat -F 2>&1; echo "locked: userns-flush=$?"
        exec sleep 3600
        """;

    [RootNetnsFact]
    public async Task An_app_runs_unprivileged_and_can_neither_flush_its_rules_nor_leave_its_namespace()
    {
        Assert.Null(NetnsRequirements.Missing());
        var scenario = new TransparentScenario(output, _dir);
        Directory.CreateDirectory(_dir);
        var probe = Path.Combine(_dir, "probe.sh");
        await File.WriteAllTextAsync(probe, Probe.ReplaceLineEndings("\n") + "\n");
        File.SetUnixFileMode(probe, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        scenario.WriteTopology(client: $"[/bin/sh, {probe}]");

        var up = WeftProcess.Start(scenario.UpArguments(), workingDirectory: _dir, env: TransparentScenario.WithoutSudo);
        await using (up)
        {
            try
            {
                await up.WaitForLineAsync("weft: mesh ready", TransparentScenario.StartDeadline);
                var last = await up.WaitForLineAsync(@"\[client-0\] locked: userns-flush=", TransparentScenario.StartDeadline);
                var said = up.Output;
                Assert.Contains("weft: apps          run as uid 1338 gid 1338 (no SUDO_UID), without capabilities", said);

                // What the app saw of itself.
                var who = Regex.Match(said, @"\[client-0\] locked: uid=(\d+) gid=(\d+) groups=([\d ]+) cap-eff=([0-9a-f]+) iptables=(\S+)");
                Assert.True(who.Success, "no locked: uid line");
                Assert.Equal("1338", who.Groups[1].Value);
                Assert.Equal("1338", who.Groups[2].Value);
                Assert.Equal("1338", who.Groups[3].Value.Trim());
                Assert.Equal("0000000000000000", who.Groups[4].Value);
                // Each attempt ran (127: not found would prove nothing) and failed.
                foreach (var attempt in new[] { "flush", "delete", "nsenter", "unshare", "userns-flush" })
                {
                    var code = int.Parse(Regex.Match(said, $@"\[client-0\] locked: {attempt}=(\d+)").Groups[1].Value);
                    Assert.True(code is not (0 or 126 or 127), $"{attempt}: exit {code}, expected a refusal");
                }

                // What the kernel says of the app, read by root.
                var prefix = Regex.Match(said, @"isolation +network namespaces (wf[0-9a-f]{4})-\*").Groups[1].Value;
                var client = TransparentScenario.ProxyLine(said, "client-0");
                var pid = await TransparentScenario.AppPidAsync(Host.Here, client.Namespace);
                Assert.NotNull(pid);
                var status = await File.ReadAllTextAsync($"/proc/{pid}/status");
                Assert.Matches(@"(?m)^Uid:\t1338\t1338\t1338\t1338$", status);
                Assert.Matches(@"(?m)^Gid:\t1338\t1338\t1338\t1338$", status);
                Assert.Matches(@"(?m)^Groups:\t *$", status);
                foreach (var set in new[] { "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb" })
                    Assert.Matches($@"(?m)^{set}:\t0000000000000000$", status);
                Assert.Matches(@"(?m)^NoNewPrivs:\t1$", status);
                Assert.Equal(await NetNamespaceAsync($"/run/netns/{client.Namespace}"), await NetNamespaceAsync($"/proc/{pid}/ns/net"));
                var catalogPid = await TransparentScenario.AppPidAsync(Host.Here, TransparentScenario.ProxyLine(said, "catalog-0").Namespace);
                Assert.NotNull(catalogPid);
                Assert.Matches(@"(?m)^Uid:\t1338\t", await File.ReadAllTextAsync($"/proc/{catalogPid}/status"));

                // The rules are all there, and interception still works: a request flows through both sidecars.
                var (code0, rules) = await Host.Here.RunAsync("ip", "netns", "exec", client.Namespace, "iptables", "-t", "nat", "-S");
                Assert.Equal(0, code0);
                rules = rules.Replace(" -m tcp", "", StringComparison.Ordinal); // iptables -S spells out the match --dport implies
                foreach (var rule in InterceptionRules.Restore().Split('\n').Where(l => l.StartsWith("-A ", StringComparison.Ordinal)))
                    Assert.Contains(rule, rules);
                Assert.Equal(prefix, await scenario.ExerciseAsync(up, Host.Here));
                await scenario.StopAndCheckNothingIsLeftAsync(up, prefix, Host.Here);
            }
            catch
            {
                output.WriteLine(up.Output);
                throw;
            }
        }
    }

    /// <summary>
    /// A topology under a folder only root can enter, run by root without sudo: its `sleep` client's
    /// working directory is closed to uid 1338, so `weft up` says so (workload, path, uid, fix) and
    /// exits before it starts a process, leaving nothing behind.
    /// </summary>
    [RootNetnsFact]
    public async Task An_app_its_uid_cannot_reach_stops_weft_up_before_anything_starts()
    {
        Assert.Null(NetnsRequirements.Missing());
        var home = Path.Combine(_dir, "home");
        var scenario = new TransparentScenario(output, Path.Combine(home, "mesh"));
        scenario.WriteTopology();
        File.SetUnixFileMode(home, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

        var up = WeftProcess.Start(scenario.UpArguments(), workingDirectory: _dir, env: TransparentScenario.WithoutSudo);
        await using (up)
        {
            Assert.True(await up.WaitForExitAsync(TimeSpan.FromSeconds(60)), "weft up did not exit");
            var said = up.Output;
            output.WriteLine(said);
            Assert.Equal(1, up.ExitCode);
            Assert.Contains($"workload client: uid 1338 cannot enter its working directory {Path.Combine(home, "mesh")}: {home} is 0700, owner 0 group 0", said);
            Assert.Contains($"chmod o+x {home}", said);
            Assert.Contains("run weft up with sudo as the user who owns these files", said);
            Assert.DoesNotContain("[control]", said);
            Assert.DoesNotContain("/proxy]", said);
            var prefix = Regex.Match(said, @"isolation +network namespaces (wf[0-9a-f]{4})-\*").Groups[1].Value;
            Assert.NotEmpty(prefix);
            TransparentScenario.AssertNothingLeftOf(prefix);
            Assert.DoesNotContain(NetnsIsolation.Namespaces(), n => n.StartsWith(prefix + "-", StringComparison.Ordinal));
        }
    }

    /// <summary>The inode of the network namespace a path stands for (a namespace file, or /proc/PID/ns/net).</summary>
    private static async Task<string> NetNamespaceAsync(string path)
    {
        var (code, inode) = await Host.Here.RunAsync("stat", "-L", "-c", "%i", path);
        Assert.Equal(0, code);
        return inode.Trim();
    }
}
