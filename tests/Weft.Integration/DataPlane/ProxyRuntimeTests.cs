using System.Diagnostics;
using System.Text;
using Weft.Integration.Harness;
using Weft.Integration.Mesh;
using Xunit.Abstractions;

namespace Weft.Integration.DataPlane;

/// <summary>
/// What `weft proxy` runs as: weft-proxy, the proxy compiled ahead of time, when it sits beside
/// weft.dll (Cli/Hosts/NativeProxy), else itself on the JIT; either way with the runtime settings
/// only the environment can give (Proxy/Hosting/RuntimeTuning), keeping its PID and arguments.
/// </summary>
public sealed class ProxyRuntimeTests(ITestOutputHelper output)
{
    private static string NativeBinary => Path.Combine(Path.GetDirectoryName(Repo.WeftDll)!, "weft-proxy");

    [Fact]
    public async Task On_the_jit_a_proxy_started_without_the_tiering_setting_runs_with_it_under_the_same_pid()
    {
        var (environ, cmdline, name) = await StartAndInspectAsync("jit");
        Assert.Equal("dotnet", name);
        Assert.Contains("DOTNET_TC_CallCountingDelayMs=0", environ);
        Assert.Equal([Repo.WeftDll, "proxy", "--service", "probe"], cmdline.Skip(1).Take(4));
    }

    /// <summary>CI (CI=true) publishes weft-proxy in ./test.sh: there a missing binary fails instead of skipping.</summary>
    [SkippableNativeFact]
    public async Task By_default_weft_proxy_becomes_the_native_binary_with_its_gc_setting_under_the_same_pid()
    {
        var (environ, cmdline, name) = await StartAndInspectAsync(runtime: null);
        Assert.Equal(NativeBinary, cmdline[0]);
        Assert.Equal("weft-proxy", name);   // what ps and top show, also after the re-exec
        Assert.Equal(["--service", "probe"], cmdline.Skip(1).Take(2));
        Assert.Contains("DOTNET_GCgen0size=400000", environ);
        Assert.DoesNotContain("DOTNET_TC_CallCountingDelayMs=0", environ);
    }

    [Fact]
    public async Task An_unknown_runtime_choice_is_refused_by_name()
    {
        var start = ProxyStart(ShopMesh.FreePort(), "interpreter");
        using var proxy = Process.Start(start)!;
        var stderr = proxy.StandardError.ReadToEndAsync();
        await proxy.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(2, proxy.ExitCode);
        Assert.Contains("WEFT_PROXY_RUNTIME=interpreter: expected native or jit", await stderr);
    }

    private async Task<(string[] Environ, string[] Cmdline, string Name)> StartAndInspectAsync(string? runtime)
    {
        var admin = ShopMesh.FreePort();
        using var proxy = Process.Start(ProxyStart(admin, runtime))!;
        proxy.OutputDataReceived += (_, _) => { };
        proxy.ErrorDataReceived += (_, _) => { };
        proxy.BeginOutputReadLine();
        proxy.BeginErrorReadLine();
        try
        {
            // Once the admin port answers, the process serving it is the final (re-executed) one.
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
            var name = (await File.ReadAllTextAsync($"/proc/{proxy.Id}/comm")).TrimEnd('\n');
            output.WriteLine($"pid {proxy.Id} ({name}): {string.Join(' ', cmdline)}");
            return (environ, cmdline, name);
        }
        finally
        {
            Posix.Kill(proxy.Id, Posix.SIGKILL);
            await proxy.WaitForExitAsync();
        }
    }

    /// <summary>No control plane answers these proxies: any token file does.</summary>
    private static readonly Lazy<string> UnusedToken = new(() =>
    {
        var path = Path.Combine(Path.GetTempPath(), $"weft-runtime-{Environment.ProcessId}.token");
        File.WriteAllText(path, "weft-bt-unused\n");
        return path;
    });

    private static ProcessStartInfo ProxyStart(int admin, string? runtime)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { Repo.WeftDll, "proxy", "--service", "probe", "--instance", "probe-0", "--app-port", ShopMesh.FreePort().ToString(),
                "--inbound-port", ShopMesh.FreePort().ToString(), "--admin-port", admin.ToString(), "--control", $"http://127.0.0.1:{ShopMesh.FreePort()}",
                "--bootstrap-token-file", UnusedToken.Value },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var name in new[] { "DOTNET_TC_CallCountingDelayMs", "DOTNET_GCgen0size", "WEFT_RUNTIME_TUNED", "WEFT_PROXY_RUNTIME" })
            start.Environment.Remove(name);
        if (runtime is not null)
            start.Environment["WEFT_PROXY_RUNTIME"] = runtime;
        return start;
    }

    /// <summary>Skips with the reason where weft-proxy was not built (no clang), except under CI=true.</summary>
    private sealed class SkippableNativeFactAttribute : FactAttribute
    {
        public SkippableNativeFactAttribute()
        {
            if (Environment.GetEnvironmentVariable("CI") != "true" && !File.Exists(NativeBinary))
                Skip = $"{NativeBinary} was not built (src/Weft.Proxy.Native/publish.sh needs clang)";
        }
    }
}
