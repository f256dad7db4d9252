using System.Diagnostics;
using System.Text;
using Weft.Integration.Harness;
using Weft.Integration.Mesh;
using Xunit.Abstractions;

namespace Weft.Integration.DataPlane;

/// <summary>
/// `weft proxy` runs with the runtime settings it needs that only the environment can give
/// (Hosts/RuntimeTuning): it re-executes itself with them, keeping its PID and arguments.
/// </summary>
public sealed class RuntimeTuningTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_proxy_started_without_the_tiering_setting_runs_with_it_under_the_same_pid()
    {
        var admin = ShopMesh.FreePort();
        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { Repo.WeftDll, "proxy", "--service", "probe", "--instance", "probe-0", "--app-port", ShopMesh.FreePort().ToString(),
                "--inbound-port", ShopMesh.FreePort().ToString(), "--admin-port", admin.ToString(), "--control", $"http://127.0.0.1:{ShopMesh.FreePort()}" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment.Remove("DOTNET_TC_CallCountingDelayMs");
        start.Environment.Remove("WEFT_RUNTIME_TUNED");
        using var proxy = Process.Start(start)!;
        proxy.OutputDataReceived += (_, _) => { };
        proxy.ErrorDataReceived += (_, _) => { };
        proxy.BeginOutputReadLine();
        proxy.BeginErrorReadLine();
        try
        {
            // Once the admin port answers, the process serving it is the re-executed one.
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while (true)
            {
                Assert.True(DateTime.UtcNow < deadline, "the proxy's admin port never answered");
                Assert.False(proxy.HasExited, $"the proxy exited with {(proxy.HasExited ? proxy.ExitCode : 0)}");
                try
                {
                    await http.GetAsync($"http://127.0.0.1:{admin}/ready");
                    break;
                }
                catch (HttpRequestException)
                {
                    await Task.Delay(100);
                }
            }
            var environ = Encoding.UTF8.GetString(await File.ReadAllBytesAsync($"/proc/{proxy.Id}/environ")).Split('\0');
            var cmdline = Encoding.UTF8.GetString(await File.ReadAllBytesAsync($"/proc/{proxy.Id}/cmdline")).TrimEnd('\0').Split('\0');
            output.WriteLine($"pid {proxy.Id}: {string.Join(' ', cmdline)}");
            Assert.Contains("DOTNET_TC_CallCountingDelayMs=0", environ);
            Assert.Equal([Repo.WeftDll, "proxy", "--service", "probe"], cmdline.Skip(1).Take(4));
        }
        finally
        {
            Posix.Kill(proxy.Id, Posix.SIGKILL);
            await proxy.WaitForExitAsync();
        }
    }
}
