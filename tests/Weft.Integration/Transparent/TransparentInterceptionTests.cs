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
    /// A checkout in a 0700 home (Debian 12's default, or /root), run by root without sudo as CI runs it:
    /// the sidecars run as uid 1337 and the apps as uid 1338, neither of which can read anything in it,
    /// yet the sidecars start from what `weft up` staged for them and the demo shop from its staged copy.
    /// </summary>
    [RootNetnsFact]
    public async Task Works_from_a_checkout_only_root_can_read()
    {
        Assert.Null(NetnsRequirements.Missing());
        var home = Path.Combine(_dir, "home");
        var checkout = Path.Combine(home, "weft");
        // The layout of a checkout's build: weft and the shop side by side under .build/bin.
        foreach (var project in new[] { "Weft.Cli", "Shop" })
        {
            var from = Path.Combine(Repo.Root, ".build", "bin", project, "release");
            var to = Path.Combine(checkout, ".build", "bin", project, "release");
            Directory.CreateDirectory(to);
            foreach (var file in Directory.EnumerateFiles(from))
                File.Copy(file, Path.Combine(to, Path.GetFileName(file)), overwrite: true);
        }
        var weftDll = Path.Combine(checkout, ".build", "bin", "Weft.Cli", "release", "weft.dll");
        File.SetUnixFileMode(home, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        // As the demo's topology names it: relative to the topology's folder, inside the checkout.
        const string shop = "../../.build/bin/Shop/release/shop.dll";
        var scenario = new TransparentScenario(output, Path.Combine(checkout, "examples", "transparent"));
        scenario.WriteTopology(client: $"[dotnet, {shop}, catalog]", shopDll: shop);
        foreach (var uid in new[] { "1337", "1338" })
        {
            var (code, denied) = await Host.Here.RunAsync("setpriv", "--reuid", uid, "--regid", uid, "--clear-groups", "--", "cat", weftDll);
            Assert.True(code != 0, $"uid {uid} can read the copy, so this test would prove nothing: {denied}");
        }

        var up = WeftProcess.Start(scenario.UpArguments(), workingDirectory: Path.Combine(checkout, "examples", "transparent"), weftDll: weftDll, env: TransparentScenario.WithoutSudo);
        await using (up)
        {
            try
            {
                var prefix = await scenario.ExerciseAsync(up, Host.Here);
                var stage = Path.Combine(NetnsIsolation.StageRoot, prefix);
                Assert.True(Directory.Exists(stage), $"no stage at {stage}");
                Assert.Equal(0, (await Host.Here.RunAsync("setpriv", "--reuid", "1337", "--regid", "1337", "--clear-groups", "--", "ls", stage)).Code);
                Assert.Contains($"weft: demo shop     staged in {stage}/shop", up.Output);
                foreach (var instance in new[] { "client-0", "catalog-0" })
                {
                    var pid = await TransparentScenario.AppPidAsync(Host.Here, TransparentScenario.ProxyLine(up.Output, instance).Namespace);
                    Assert.NotNull(pid);
                    var cmdline = (await File.ReadAllTextAsync($"/proc/{pid}/cmdline")).Split('\0');
                    Assert.Equal(Path.Combine(stage, "shop", "shop.dll"), cmdline[1]);
                    Assert.Matches(@"(?m)^Uid:\t1338\t1338\t1338\t1338$", await File.ReadAllTextAsync($"/proc/{pid}/status"));
                }
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
