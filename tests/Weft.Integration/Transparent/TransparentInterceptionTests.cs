using System.Diagnostics;
using System.Net.Http;
using System.Text.RegularExpressions;
using Weft.Cli.Up.Isolation;
using Weft.Integration.Harness;
using Weft.Integration.Mesh;
using Weft.Integration.Up;
using Xunit.Abstractions;

namespace Weft.Integration.Transparent;

/// <summary>
/// `weft up --isolation netns` end to end, as root: an unmodified curl in the client's namespace
/// reaches `catalog:8080` by name through both sidecars, and stopping leaves nothing of the run behind.
/// </summary>
public sealed class TransparentInterceptionTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan StartDeadline = TimeSpan.FromSeconds(90);
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "weft-transparent-" + Guid.NewGuid().ToString("N")[..8]);

    public Task InitializeAsync()
    {
        Directory.CreateDirectory(_dir);
        File.WriteAllText(Path.Combine(_dir, "mesh.yaml"), $$"""
            apiVersion: weft.dev/v1
            kind: Topology
            metadata: { name: transparent }
            spec:
              workloads:
                - name: client
                  service: client
                  protocol: http
                  command: [sleep, "3600"]
                  upstreams: [catalog]
                - name: catalog
                  service: catalog
                  protocol: http
                  port: 8080
                  command: [dotnet, {{UpTestSupport.ShopDll()}}, catalog]
            """);
        return Task.CompletedTask;
    }

    public Task DisposeAsync()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
        return Task.CompletedTask;
    }

    [RootNetnsFact]
    public async Task Curl_by_service_name_goes_through_both_sidecars_and_stop_removes_everything()
    {
        Assert.Null(NetnsRequirements.Missing());   // under CI=true a missing requirement fails here, saying what
        // What a crashed run would have left: a namespace and a hosts folder of a prefix no live weft up owns.
        var stale = "wf" + Random.Shared.Next(0x10000).ToString("x4") + "-stale-0";
        Assert.Equal(0, (await RunAsync("ip", "netns", "add", stale)).Code);
        Directory.CreateDirectory("/etc/netns/" + stale);
        string prefix;
        var up = WeftProcess.Start(["up", "-f", Path.Combine(_dir, "mesh.yaml"), "--isolation", "netns",
            "--api-port", ShopMesh.FreePort().ToString(), "--discovery-port", ShopMesh.FreePort().ToString()], workingDirectory: _dir);
        try
        {
            prefix = (await up.WaitForLineAsync(@"isolation +network namespaces (wf[0-9a-f]{4})-\*", StartDeadline)).Groups[1].Value;
            await up.WaitForLineAsync("weft: mesh ready", StartDeadline);
            Assert.DoesNotContain(stale, NetnsIsolation.Namespaces());
            Assert.False(Directory.Exists("/etc/netns/" + stale), "a crashed run's hosts folder was left");
            var client = ProxyLine(up.Output, "client-0");
            var catalog = ProxyLine(up.Output, "catalog-0");

            // The app's only hint is WEFT_UPSTREAM_CATALOG=catalog:8080; the call is a plain curl by name.
            var (code, body) = await RunAsync("ip", "netns", "exec", client.Namespace, "curl", "-s", "-m", "10", "-w", "\n%{http_code}", "http://catalog:8080/products");
            output.WriteLine($"curl in {client.Namespace}: exit {code}\n{body}");
            Assert.Equal(0, code);
            Assert.EndsWith("\n200", body.TrimEnd());
            Assert.Contains("\"products\"", body);

            Assert.Contains("WEFT_UPSTREAM_CATALOG=catalog:8080", await AppEnvironmentAsync(client.Namespace));

            // A destination that is no Service port passes through the capture listener to itself:
            // here the catalog sidecar's admin port, in another namespace of this run.
            var (passCode, passBody) = await RunAsync("ip", "netns", "exec", client.Namespace, "curl", "-s", "-m", "10", "-w", "\n%{http_code}", $"http://{catalog.Address}:15000/ready");
            Assert.True(passCode == 0 && passBody.TrimEnd().EndsWith("\n200", StringComparison.Ordinal), $"passthrough: exit {passCode}: {passBody}");

            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            var outbound = await http.GetStringAsync($"http://{client.Address}:15000/stats/prometheus");
            var inbound = await http.GetStringAsync($"http://{catalog.Address}:15000/stats/prometheus");
            Assert.Matches(@"weft_requests_total\{direction=""outbound"",source_service=""client"",[^}]*destination_service=""catalog"",[^}]*response_code=""200""[^}]*\} [1-9]", outbound);
            Assert.Matches(@"weft_requests_total\{direction=""inbound"",source_service=""client"",[^}]*destination_service=""catalog"",[^}]*response_code=""200""[^}]*\} [1-9]", inbound);
        }
        finally
        {
            up.Signal(Posix.SIGTERM);
            var exited = await up.WaitForExitAsync(TimeSpan.FromSeconds(30));
            output.WriteLine(up.Output);
            await up.DisposeAsync();
            Assert.True(exited, "weft up did not stop within 30 s");
        }

        Assert.DoesNotContain(NetnsIsolation.Namespaces(), n => n.StartsWith(prefix + "-", StringComparison.Ordinal));
        Assert.DoesNotContain(NetnsIsolation.Links(), l => l.StartsWith(prefix + "-", StringComparison.Ordinal));
        Assert.Empty(Directory.Exists("/etc/netns") ? Directory.GetDirectories("/etc/netns", prefix + "-*") : []);
        Assert.False(File.Exists($"/run/weft/netns/{prefix}.pid"));
        var (_, rules) = await RunAsync("iptables-save");
        Assert.DoesNotContain(InterceptionRules.OutputChain, rules);
        Assert.DoesNotContain(prefix, rules);
    }

    private sealed record ProxyAt(string Address, string Namespace);

    /// <summary>`weft: proxy client-0 admin http://10.254.x.2:15000 ... (netns wf1a2b-client-0)`.</summary>
    private static ProxyAt ProxyLine(string text, string instance)
    {
        var m = Regex.Match(text, @"proxy " + Regex.Escape(instance) + @" +admin http://([0-9.]+):15000 .*\(netns ([^)]+)\)");
        Assert.True(m.Success, $"no proxy line for {instance} in:\n{text}");
        return new ProxyAt(m.Groups[1].Value, m.Groups[2].Value);
    }

    private static async Task<string> AppEnvironmentAsync(string netns)
    {
        var (_, pids) = await RunAsync("ip", "netns", "pids", netns);
        foreach (var pid in pids.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var cmdline = await File.ReadAllTextAsync($"/proc/{pid.Trim()}/cmdline");
            if (cmdline.StartsWith("sleep\0", StringComparison.Ordinal))
                return (await File.ReadAllTextAsync($"/proc/{pid.Trim()}/environ")).Replace('\0', '\n');
        }
        return "";
    }

    private static async Task<(int Code, string Output)> RunAsync(string file, params string[] args)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await p.WaitForExitAsync(cts.Token);
        return (p.ExitCode, await stdout + await stderr);
    }
}
