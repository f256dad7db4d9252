using System.Diagnostics;
using System.Text.RegularExpressions;
using Weft.Cli.Up.Isolation;
using Weft.Integration.Harness;
using Weft.Integration.Mesh;
using Weft.Integration.Up;
using Xunit.Abstractions;

namespace Weft.Integration.Transparent;

/// <summary>
/// `weft up --isolation netns` of a client workload (`sleep`) and the shop's catalog: an unmodified
/// curl in the client's namespace reaches `catalog:8080` by name through both sidecars; stopping
/// leaves nothing of the run behind. Shared by the tests that run it from different places.
/// </summary>
internal sealed class TransparentScenario(ITestOutputHelper output, string dir)
{
    public static readonly TimeSpan StartDeadline = TimeSpan.FromSeconds(90);

    public string Topology => Path.Combine(dir, "mesh.yaml");

    /// <param name="client">The client app's command, a YAML sequence; default <c>[sleep, "3600"]</c>.</param>
    /// <param name="shopDll">The shop the catalog runs, as its command names it; default this checkout's build.</param>
    public void WriteTopology(string client = "[sleep, \"3600\"]", string? shopDll = null)
    {
        Directory.CreateDirectory(dir);
        // The apps' working directory, which their uid (1338) must enter whatever root's umask.
        File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
            | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        File.WriteAllText(Topology, $$"""
            apiVersion: weft.dev/v1
            kind: Topology
            metadata: { name: transparent }
            spec:
              workloads:
                - name: client
                  service: client
                  protocol: http
                  command: {{client}}
                  upstreams: [catalog]
                - name: catalog
                  service: catalog
                  protocol: http
                  port: 8080
                  command: [dotnet, {{shopDll ?? UpTestSupport.ShopDll()}}, catalog]
              ingress: { service: catalog, port: 8080 }
            """);
    }

    /// <summary>
    /// For a test that expects the apps as uid 1338: the env of root's own shell, which a test run under
    /// sudo would not have (apps would run as SUDO_UID). Empty counts as unset.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string> WithoutSudo = new Dictionary<string, string> { ["SUDO_UID"] = "", ["SUDO_GID"] = "" };

    /// <summary>`weft up` arguments for this topology on ports of its own.</summary>
    public string[] UpArguments() =>
        ["up", "-f", Topology, "--isolation", "netns", "--api-port", ShopMesh.FreePort().ToString(), "--discovery-tls-port", ShopMesh.FreePort().ToString(),
            "--discovery-port", ShopMesh.FreePort().ToString(), "--ingress-port", IngressPort.ToString(System.Globalization.CultureInfo.InvariantCulture)];

    /// <summary>The ingress gateway's port: it stays in the host's namespace while the workloads are isolated.</summary>
    public int IngressPort { get; } = ShopMesh.FreePort();

    /// <summary>Waits for the mesh and proves interception works; returns the run's prefix.</summary>
    /// <param name="host">Runs ip(8) and curl where weft up's namespaces are visible (its mount namespace).</param>
    public async Task<string> ExerciseAsync(WeftProcess up, Host host)
    {
        var prefix = (await up.WaitForLineAsync(@"isolation +network namespaces (wf[0-9a-f]{4})-\*", StartDeadline)).Groups[1].Value;
        await up.WaitForLineAsync("weft: mesh ready", StartDeadline);
        var client = ProxyLine(up.Output, "client-0");
        var catalog = ProxyLine(up.Output, "catalog-0");

        // The app's only hint is WEFT_UPSTREAM_CATALOG=catalog:8080; the call is a plain curl by name.
        var (code, body) = await host.RunAsync("ip", "netns", "exec", client.Namespace, "curl", "-s", "-m", "10", "-w", "\n%{http_code}", "http://catalog:8080/products");
        output.WriteLine($"curl in {client.Namespace}: exit {code}\n{body}");
        Assert.Equal(0, code);
        Assert.EndsWith("\n200", body.TrimEnd());
        Assert.Contains("\"products\"", body);

        Assert.Contains("WEFT_UPSTREAM_CATALOG=catalog:8080", await AppEnvironmentAsync(host, client.Namespace));

        // The ingress gateway, in the host's namespace, reaches discovery and the isolated catalog too.
        var (ingressCode, ingressBody) = await host.RunAsync("curl", "-s", "-m", "10", "-w", "\n%{http_code}", $"http://127.0.0.1:{IngressPort}/products");
        output.WriteLine($"curl to the ingress: exit {ingressCode}\n{ingressBody}");
        Assert.Equal(0, ingressCode);
        Assert.EndsWith("\n200", ingressBody.TrimEnd());

        // A destination that is no Service port passes through the capture listener to itself:
        // here the catalog sidecar's admin port, in another namespace of this run.
        var (passCode, passBody) = await host.RunAsync("ip", "netns", "exec", client.Namespace, "curl", "-s", "-m", "10", "-w", "\n%{http_code}", $"http://{catalog.Address}:15000/ready");
        Assert.True(passCode == 0 && passBody.TrimEnd().EndsWith("\n200", StringComparison.Ordinal), $"passthrough: exit {passCode}: {passBody}");

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var outbound = await http.GetStringAsync($"http://{client.Address}:15000/stats/prometheus");
        var inbound = await http.GetStringAsync($"http://{catalog.Address}:15000/stats/prometheus");
        Assert.Matches(@"weft_requests_total\{direction=""outbound"",source_service=""client"",[^}]*destination_service=""catalog"",[^}]*response_code=""200""[^}]*\} [1-9]", outbound);
        Assert.Matches(@"weft_requests_total\{direction=""inbound"",source_service=""client"",[^}]*destination_service=""catalog"",[^}]*response_code=""200""[^}]*\} [1-9]", inbound);
        return prefix;
    }

    /// <summary>SIGTERM, then the run must have exited and left no namespace, link, hosts folder, stage, state file or rule.</summary>
    public async Task StopAndCheckNothingIsLeftAsync(WeftProcess up, string prefix, Host host)
    {
        up.Signal(Posix.SIGTERM);
        var exited = await up.WaitForExitAsync(TimeSpan.FromSeconds(30));
        output.WriteLine(up.Output);
        Assert.True(exited, "weft up did not stop within 30 s");
        Assert.Equal(0, up.ExitCode);
        AssertNothingLeftOf(prefix);
        Assert.DoesNotContain(NetnsIsolation.Namespaces(), n => n.StartsWith(prefix + "-", StringComparison.Ordinal));
        Assert.False(File.Exists($"/run/weft/netns/{prefix}.pid"));
        var (_, rules) = await host.RunAsync("iptables-save");
        Assert.DoesNotContain(InterceptionRules.OutputChain, rules);
        Assert.DoesNotContain(prefix, rules);
    }

    public static void AssertNothingLeftOf(string prefix)
    {
        var left = LeftOf(prefix);
        Assert.True(left.Count == 0, $"left of {prefix}: {string.Join(", ", left)}");
    }

    /// <summary>What of a run every run on the machine sees, whatever its /run: links, hosts folders, the stage.</summary>
    public static List<string> LeftOf(string prefix)
    {
        var left = NetnsIsolation.Links().Where(l => l.StartsWith(prefix + "-", StringComparison.Ordinal)).Select(l => "link " + l).ToList();
        if (Directory.Exists("/etc/netns")) left.AddRange(Directory.GetDirectories("/etc/netns", prefix + "-*"));
        if (Directory.Exists(Path.Combine(NetnsIsolation.StageRoot, prefix))) left.Add(Path.Combine(NetnsIsolation.StageRoot, prefix));
        return left;
    }

    public sealed record ProxyAt(string Address, string Namespace);

    /// <summary>`weft: proxy client-0 admin http://10.254.x.2:15000 ... (netns wf1a2b-client-0)`.</summary>
    public static ProxyAt ProxyLine(string text, string instance)
    {
        var m = Regex.Match(text, @"proxy " + Regex.Escape(instance) + @" +admin http://([0-9.]+):15000 .*\(netns ([^)]+)\)");
        Assert.True(m.Success, $"no proxy line for {instance} in:\n{text}");
        return new ProxyAt(m.Groups[1].Value, m.Groups[2].Value);
    }

    private static async Task<string> AppEnvironmentAsync(Host host, string netns) =>
        await AppPidAsync(host, netns) is { } pid ? (await File.ReadAllTextAsync($"/proc/{pid}/environ")).Replace('\0', '\n') : "";

    /// <summary>The app's process in the namespace (weft up gives it WEFT_INSTANCE, not its sidecar); null when there is none.</summary>
    public static async Task<string?> AppPidAsync(Host host, string netns)
    {
        var (_, pids) = await host.RunAsync("ip", "netns", "pids", netns);
        foreach (var pid in pids.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(p => p.Trim()))
        {
            try
            {
                if ((await File.ReadAllTextAsync($"/proc/{pid}/environ")).Split('\0').Any(e => e.StartsWith("WEFT_INSTANCE=", StringComparison.Ordinal)))
                    return pid;
            }
            catch (IOException) { } // gone meanwhile (a shell's short-lived child)
        }
        return null;
    }
}

/// <summary>Runs tools in a mount namespace: this process's, or (through nsenter) that of another process.</summary>
internal sealed record Host(IReadOnlyList<string> Prefix)
{
    public static readonly Host Here = new([]);

    /// <summary>The mount namespace of <paramref name="pid"/>, where its /run (and so its `ip netns` names) is.</summary>
    public static Host MountsOf(int pid) => new(["nsenter", "-t", pid.ToString(), "-m", "--"]);

    public async Task<(int Code, string Output)> RunAsync(string file, params string[] args)
    {
        string[] all = [.. Prefix, file, .. args];
        var info = new ProcessStartInfo(all[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in all[1..]) info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await p.WaitForExitAsync(cts.Token);
        return (p.ExitCode, await stdout + await stderr);
    }
}
