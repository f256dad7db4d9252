using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Weft.Integration.Harness;
using Xunit.Abstractions;

namespace Weft.Integration.Mesh;

/// <summary>
/// A config a proxy cannot apply is NACKed end to end, with real processes: the proxy applies none of
/// it, the control plane records the reason (weft status, metrics), and the next good state is applied.
/// </summary>
public sealed class NackTests(ITestOutputHelper log) : IAsyncLifetime
{
    private readonly int _apiPort = ShopMesh.FreePort();
    private readonly int _discoveryPort = ShopMesh.FreePort();
    private readonly int _adminPort = ShopMesh.FreePort();
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "weft-nack-" + Guid.NewGuid().ToString("N")[..8]);
    private WeftProcess? _control;
    private WeftProcess? _proxy;

    private string Control => $"http://127.0.0.1:{_apiPort}";

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_dir);
        _control = WeftProcess.Start(["control", "--data-dir", Path.Combine(_dir, "data"), "--api-port", _apiPort.ToString(), "--discovery-tls-port", ShopMesh.FreePort().ToString(), "--discovery-port", _discoveryPort.ToString()]);
        await _control.WaitForLineAsync("control plane ready", TimeSpan.FromSeconds(60));
    }

    public async Task DisposeAsync()
    {
        if (_proxy is not null) await _proxy.DisposeAsync();
        if (_control is not null) await _control.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task A_config_the_proxy_cannot_apply_is_nacked_with_its_reason_and_the_next_good_one_is_applied()
    {
        // The proxy's outbound port for catalog is taken: its first config cannot be bound.
        var blocker = new TcpListener(IPAddress.Loopback, 0);
        blocker.Start();
        var upstreamPort = ((IPEndPoint)blocker.LocalEndpoint).Port;
        _proxy = WeftProcess.Start(["proxy", "--service", "web", "--instance", "web-0", "--app-port", ShopMesh.FreePort().ToString(),
            "--inbound-port", ShopMesh.FreePort().ToString(), "--admin-port", _adminPort.ToString(), "--upstream", $"catalog={upstreamPort}",
            "--control", $"http://127.0.0.1:{_discoveryPort}", "--bootstrap-token-file", TokenFiles.Create(_apiPort, Path.Combine(_dir, "data"), "web")]);

        var nacked = await WaitForProxyAsync(p => p.GetProperty("syncState").GetString()!.StartsWith("NACKED", StringComparison.Ordinal));
        log.WriteLine("status after the bad config: " + nacked);
        Assert.Contains(upstreamPort.ToString(), nacked.GetProperty("syncState").GetString());
        Assert.Contains(upstreamPort.ToString(), nacked.GetProperty("nackReason").GetString());
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        // Nothing of the NACKed config was applied: the proxy holds no config, so it is not ready.
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await http.GetAsync($"http://127.0.0.1:{_adminPort}/ready")).StatusCode);
        var metrics = await http.GetStringAsync($"{Control}/metrics");
        Assert.Matches(@"weft_control_config_rejected_total\{[^}]*\} [1-9]", metrics);
        // weft check names the proxy and the reason, and fails.
        var (checkCode, check) = await WeftProcess.RunAsync(["check", "--control", Control], TimeSpan.FromSeconds(30));
        log.WriteLine(check);
        Assert.Equal(1, checkCode);
        Assert.Matches($@"FAIL  proxy web-0: refuses the config: .*{upstreamPort}", check);

        // Free the port and change something the proxy depends on: the new state is applied and ACKed.
        blocker.Stop();
        var file = Path.Combine(_dir, "catalog.yaml");
        await File.WriteAllTextAsync(file, "apiVersion: weft.dev/v1\nkind: Service\nmetadata: { name: catalog }\nspec:\n  ports: [{ port: 8080, protocol: http2 }]\n");
        var (code, output) = await WeftProcess.RunAsync(["apply", "-f", file, "--control", Control], TimeSpan.FromSeconds(60));
        Assert.True(code == 0, output);
        var synced = await WaitForProxyAsync(p => p.GetProperty("syncState").GetString() == "SYNCED" && p.GetProperty("revisionAcked").GetInt64() >= 1);
        log.WriteLine("status after the good config: " + synced);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync($"http://127.0.0.1:{_adminPort}/ready")).StatusCode);
        var dump = await http.GetStringAsync($"http://127.0.0.1:{_adminPort}/config_dump");
        Assert.Contains(upstreamPort.ToString(), dump);
    }

    private async Task<JsonElement> WaitForProxyAsync(Func<JsonElement, bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        var last = "";
        while (DateTime.UtcNow < deadline)
        {
            var (code, output) = await WeftProcess.RunAsync(["status", "-o", "json", "--control", Control], TimeSpan.FromSeconds(60));
            if (code == 0 && output.Contains('{'))
            {
                last = output;
                foreach (var p in JsonDocument.Parse(output[output.IndexOf('{')..]).RootElement.GetProperty("proxies").EnumerateArray())
                    if (p.GetProperty("id").GetString() == "web-0" && condition(p)) return p.Clone();
            }
            await Task.Delay(200);
        }
        throw new TimeoutException("proxy web-0 never reached the expected state; last status:\n" + last);
    }
}
