using Weft.Integration.Harness;
using Weft.Integration.Up;
using Xunit.Abstractions;

namespace Weft.Integration.Transparent;

/// <summary>
/// A crashed `weft up --isolation netns`, then the next one on a machine whose /run has no weft/ (a
/// reboot empties /run, not /etc; a container or another mount namespace has a /run of its own). Each
/// run gets a fresh tmpfs on /run in a private mount namespace (`unshare --mount`), so `ip netns` and
/// the state file live there, while links and /etc/netns are the machine's.
/// </summary>
public sealed class CrashedRunTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "weft-crashed-" + Guid.NewGuid().ToString("N")[..8]);

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    /// <summary>`weft up ARGS` with a fresh, empty /run of its own; the process is weft up itself (each wrapper execs the next).</summary>
    private static WeftProcess UpWithFreshRun(string[] args, string dir) =>
        WeftProcess.StartCommand("unshare", ["--mount", "--propagation", "private", "--", "/bin/sh", "-c",
            "mount -t tmpfs weft-test-run /run && exec dotnet \"$@\"", "sh", Repo.WeftDll, .. args], workingDirectory: dir);

    [RootNetnsFact]
    public async Task After_a_crash_the_next_run_without_run_weft_removes_what_it_sees_and_works()
    {
        Assert.Null(NetnsRequirements.Missing());
        var scenario = new TransparentScenario(output, _dir);
        scenario.WriteTopology();

        // The crashed run: up and intercepting, then SIGKILL (the kernel kills its children).
        string crashed;
        var first = UpWithFreshRun(scenario.UpArguments(), _dir);
        await using (first)
        {
            try
            {
                crashed = await scenario.ExerciseAsync(first, Host.MountsOf(first.Pid));
                var (_, namespaces) = await Host.MountsOf(first.Pid).RunAsync("ip", "netns", "list");
                Assert.Contains(crashed + "-catalog-0", namespaces);
                var children = ProcessTable.Descendants(first.Pid);
                first.Signal(Posix.SIGKILL);
                Assert.True(await first.WaitForExitAsync(TimeSpan.FromSeconds(10)), "weft up survived SIGKILL");
                await UpTestSupport.WaitUntilAsync(() => ProcessTable.LeftOf(children).Count == 0, "the crashed run's children are gone");
            }
            catch
            {
                output.WriteLine(first.Output);
                throw;
            }
        }
        // What it left that every run can see: its bridge, hosts folders and stage (its namespaces and
        // state file went with its /run).
        Assert.Contains(crashed + "-br", Cli.Up.Isolation.NetnsIsolation.Links());
        Assert.NotEmpty(Directory.GetDirectories("/etc/netns", crashed + "-*"));
        Assert.True(Directory.Exists(Path.Combine(Cli.Up.Isolation.NetnsIsolation.StageRoot, crashed)), "the crashed run's stage is not there");

        var next = UpWithFreshRun(scenario.UpArguments(), _dir);
        await using (next)
        {
            try
            {
                var prefix = await scenario.ExerciseAsync(next, Host.MountsOf(next.Pid));
                Assert.Contains($"weft: removing the network namespaces a previous run left ({crashed}-*)", next.Output);
                // A namespace's veth goes when the kernel has finished destroying the namespace: give it a moment.
                await UpTestSupport.WaitUntilAsync(() => TransparentScenario.LeftOf(crashed).Count == 0,
                    $"nothing of the crashed run is left (at first: {string.Join(", ", TransparentScenario.LeftOf(crashed))})");
                await scenario.StopAndCheckNothingIsLeftAsync(next, prefix, Host.Here);
            }
            catch
            {
                output.WriteLine(next.Output);
                throw;
            }
        }
    }
}
