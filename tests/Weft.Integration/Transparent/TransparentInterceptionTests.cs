using Weft.Cli.Up.Isolation;
using Weft.Integration.Harness;
using Xunit.Abstractions;

namespace Weft.Integration.Transparent;

/// <summary>
/// `weft up --isolation netns` end to end, as root: an unmodified curl in the client's namespace
/// reaches `catalog:8080` by name through both sidecars, and stopping leaves nothing of the run behind;
/// also when weft is run from a folder only root can read.
/// </summary>
public sealed class TransparentInterceptionTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "weft-transparent-" + Guid.NewGuid().ToString("N")[..8]);

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    [RootNetnsFact]
    public async Task Curl_by_service_name_goes_through_both_sidecars_and_stop_removes_everything()
    {
        Assert.Null(NetnsRequirements.Missing());   // under CI=true a missing requirement fails here, saying what
        var scenario = new TransparentScenario(output, _dir);
        scenario.WriteTopology();
        // What a crashed run would have left: a namespace and a hosts folder of a prefix no live weft up owns.
        var stale = "wf" + Random.Shared.Next(0x10000).ToString("x4") + "-stale-0";
        Assert.Equal(0, (await Host.Here.RunAsync("ip", "netns", "add", stale)).Code);
        Directory.CreateDirectory("/etc/netns/" + stale);

        var up = WeftProcess.Start(scenario.UpArguments(), workingDirectory: _dir);
        await using (up)
        {
            try
            {
                var prefix = await scenario.ExerciseAsync(up, Host.Here);
                Assert.DoesNotContain(stale, NetnsIsolation.Namespaces());
                Assert.False(Directory.Exists("/etc/netns/" + stale), "a crashed run's hosts folder was left");
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
    /// A checkout in a 0700 home (Debian 12's default, or /root): the sidecars run as uid 1337, which
    /// cannot read anything in it, yet they start from what `weft up` staged for them.
    /// </summary>
    [RootNetnsFact]
    public async Task Works_from_a_checkout_only_root_can_read()
    {
        Assert.Null(NetnsRequirements.Missing());
        var home = Path.Combine(_dir, "home");
        var build = Path.Combine(home, "weft", "release");
        Directory.CreateDirectory(build);
        foreach (var file in Directory.EnumerateFiles(Path.GetDirectoryName(Repo.WeftDll)!))
            File.Copy(file, Path.Combine(build, Path.GetFileName(file)), overwrite: true);
        File.SetUnixFileMode(home, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var scenario = new TransparentScenario(output, Path.Combine(home, "mesh"));
        scenario.WriteTopology();
        var (code, denied) = await Host.Here.RunAsync("setpriv", "--reuid", "1337", "--regid", "1337", "--clear-groups", "--", "cat", Path.Combine(build, "weft.dll"));
        Assert.True(code != 0, $"uid 1337 can read the copy, so this test would prove nothing: {denied}");

        var up = WeftProcess.Start(scenario.UpArguments(), workingDirectory: Path.Combine(home, "mesh"), weftDll: Path.Combine(build, "weft.dll"));
        await using (up)
        {
            try
            {
                var prefix = await scenario.ExerciseAsync(up, Host.Here);
                var stage = Path.Combine(NetnsIsolation.StageRoot, prefix);
                Assert.True(Directory.Exists(stage), $"no stage at {stage}");
                Assert.Equal(0, (await Host.Here.RunAsync("setpriv", "--reuid", "1337", "--regid", "1337", "--clear-groups", "--", "ls", stage)).Code);
                await scenario.StopAndCheckNothingIsLeftAsync(up, prefix, Host.Here);
            }
            catch
            {
                output.WriteLine(up.Output);
                throw;
            }
        }
    }
}
