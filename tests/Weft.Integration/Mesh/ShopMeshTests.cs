using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Weft.Integration.Harness;
using Xunit.Abstractions;

namespace Weft.Integration.Mesh;

/// <summary>
/// Issue 2's "Done when", against the demo mesh brought up by the real `weft up`: traffic through the
/// ingress, both catalog versions, every proxy SYNCED, a routing change acked everywhere within a
/// second, rollback, and a kill -9 of the control plane under traffic.
/// </summary>
public sealed class ShopMeshTests(ShopMesh mesh, ITestOutputHelper log) : IClassFixture<ShopMesh>
{
    private static readonly string[] Proxies = ["catalog-v1-0", "catalog-v2-0", "ingress", "loadgen-0", "ratings-0", "web-0", "web-1"];
    private static readonly Regex Version = new("\"catalog\":\\{\"version\":\"(v[12])\"");

    [Fact]
    public async Task Two_hundred_requests_through_the_ingress_all_succeed_and_reach_both_catalog_versions()
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var versions = await SendAsync(http, 200);
        log.WriteLine($"200 requests: v1={versions.GetValueOrDefault("v1")} v2={versions.GetValueOrDefault("v2")}");
        Assert.Equal(200, versions.Values.Sum());
        Assert.True(versions.GetValueOrDefault("v1") > 0 && versions.GetValueOrDefault("v2") > 0, $"both versions expected: {Describe(versions)}");
    }

    [Fact]
    public async Task No_request_failed_while_the_mesh_started()
    {
        // loadgen sends traffic from its first second; apps start only once the apps they call listen,
        // so no proxy may have counted a 5xx (this test class never kills an app).
        var status = await WaitForAllSyncedAsync(TimeSpan.FromSeconds(30));
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var served = 0L;
        foreach (var proxy in status.GetProperty("proxies").EnumerateArray())
        {
            var metrics = await http.GetStringAsync(proxy.GetProperty("adminUrl").GetString() + "/stats/prometheus");
            foreach (var line in metrics.Split('\n').Where(l => l.StartsWith("weft_requests_total{", StringComparison.Ordinal)))
            {
                Assert.DoesNotMatch("response_code=\"5", line);
                served += long.Parse(line[(line.LastIndexOf(' ') + 1)..]);
            }
        }
        Assert.True(served > 0, "no proxy counted any request");
    }

    [Fact]
    public async Task Sidecars_speak_STRICT_mTLS_so_a_plaintext_dial_of_an_inbound_port_is_refused()
    {
        // weft up's default: the demo's topology brings no MeshConfig, so every inbound port is STRICT.
        var inbound = int.Parse(Regex.Match(mesh.Up.Output, @"proxy web-0\s+admin (\S+)\s+inbound 127\.0\.0\.1:(\d+)").Groups[2].Value);
        var admin = Regex.Match(mesh.Up.Output, @"proxy web-0\s+admin (\S+)").Groups[1].Value;
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        using var plain = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{inbound}/");
        plain.Headers.TryAddWithoutValidation("x-weft-source", "loadgen;v1;default");
        await Assert.ThrowsAsync<HttpRequestException>(() => http.SendAsync(plain));
        Assert.Matches(@"weft_mtls_connections_total\{listener=""[^""]+"",outcome=""plaintext_refused""\} [1-9]", await http.GetStringAsync(admin + "/stats/prometheus"));

        // What crosses between sidecars is mTLS, and the callee counts its caller by certificate.
        await SendAsync(http, 20);
        var status = await WaitForAllSyncedAsync(TimeSpan.FromSeconds(30));
        var catalog = status.GetProperty("proxies").EnumerateArray().First(p => p.GetProperty("id").GetString() == "catalog-v1-0");
        var metrics = await http.GetStringAsync(catalog.GetProperty("adminUrl").GetString() + "/stats/prometheus");
        Assert.Matches(@"weft_requests_total\{direction=""inbound"",source_service=""web"",[^}]*mtls=""true""\} [1-9]", metrics);
        Assert.DoesNotMatch(@"weft_requests_total\{direction=""inbound""[^}]*mtls=""false""\}", metrics);
    }

    [Fact]
    public async Task Status_lists_every_proxy_synced()
    {
        var status = await WaitForAllSyncedAsync(TimeSpan.FromSeconds(30));
        var ids = status.GetProperty("proxies").EnumerateArray().Select(p => p.GetProperty("id").GetString()).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(Proxies, ids);
    }

    [Fact]
    public async Task A_route_sending_all_catalog_traffic_to_v2_is_acked_by_every_proxy_within_a_second_and_rollback_restores_the_split()
    {
        using var http = new HttpClient { BaseAddress = new Uri(mesh.Control), Timeout = TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.Authorization = new("Bearer", File.ReadAllText(Path.Combine(mesh.DataDir, "api-token")).Trim());
        var yaml = await File.ReadAllTextAsync(Path.Combine(Repo.Root, "examples", "shop", "catalog-v2-only.yaml"));

        // Time from the store's acknowledgement of the apply to the last proxy's ACK.
        var applied = await http.PostAsJsonAsync("/api/v1/apply", new { files = new[] { new { name = "catalog-v2-only.yaml", content = yaml } } });
        var clock = Stopwatch.StartNew();
        Assert.True(applied.IsSuccessStatusCode, await applied.Content.ReadAsStringAsync());
        var revision = JsonDocument.Parse(await applied.Content.ReadAsStringAsync()).RootElement.GetProperty("revision").GetInt64();
        var sync = await http.GetAsync($"/api/v1/sync?revision={revision}&timeoutSeconds=10");
        var converged = clock.Elapsed;
        var syncBody = await sync.Content.ReadAsStringAsync();
        log.WriteLine($"revision {revision} acked by every proxy {converged.TotalMilliseconds:0} ms after the apply was acknowledged: {syncBody}");
        Assert.True(sync.IsSuccessStatusCode, syncBody);
        Assert.True(converged < TimeSpan.FromSeconds(1), $"convergence took {converged.TotalMilliseconds:0} ms");
        var status = await mesh.StatusAsync();
        foreach (var p in status.GetProperty("proxies").EnumerateArray())
            Assert.True(p.GetProperty("revisionAcked").GetInt64() >= revision, $"{p.GetProperty("id")} acked {p.GetProperty("revisionAcked")} < {revision}");

        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var afterApply = await SendAsync(client, 50);
        Assert.Equal(50, afterApply.GetValueOrDefault("v2"));

        var (code, output) = await mesh.WeftAsync("rollback");
        log.WriteLine(output);
        Assert.Equal(0, code);
        var (waitCode, waitOutput) = await mesh.WeftAsync("apply", "-f", Path.Combine(Repo.Root, "examples", "shop", "routes.yaml"), "--wait");
        Assert.True(waitCode == 0, waitOutput); // the rollback already restored routes.yaml: this apply is a no-op that must say so
        var afterRollback = await SendAsync(client, 100);
        log.WriteLine($"after rollback: {Describe(afterRollback)}");
        Assert.True(afterRollback.GetValueOrDefault("v1") > 0 && afterRollback.GetValueOrDefault("v2") > 0, Describe(afterRollback));
    }

    [Fact]
    public async Task Kill_9_of_the_control_plane_during_steady_traffic_fails_no_request_and_the_proxies_resync()
    {
        await WaitForAllSyncedAsync(TimeSpan.FromSeconds(30));
        var before = await mesh.WeftAsync("get", "httproute", "catalog-split", "-o", "json");
        Assert.Equal(0, before.ExitCode);

        // An apply acknowledged just before the kill must survive it.
        var probe = Path.Combine(mesh.DataDir, "..", $"probe-{Guid.NewGuid():N}.yaml");
        await File.WriteAllTextAsync(probe, "apiVersion: weft.dev/v1\nkind: Service\nmetadata: { name: durable-probe }\nspec:\n  ports: [{ port: 8080 }]\n");
        var (applyCode, applyOutput) = await mesh.WeftAsync("apply", "-f", probe);
        File.Delete(probe);
        Assert.True(applyCode == 0, applyOutput);

        var control = ControlPlanePid();
        using var traffic = new CancellationTokenSource();
        var load = Enumerable.Range(0, 4).Select(_ => LoopAsync(traffic.Token)).ToArray();
        await Task.Delay(TimeSpan.FromSeconds(1)); // traffic is flowing before the kill (the loops count it)

        Posix.Kill(control, Posix.SIGKILL);
        var killed = Stopwatch.StartNew();
        log.WriteLine($"killed control plane pid {control}");
        await WaitUntilAsync(() => ControlPlanePidOrZero() is var p && p != 0 && p != control, TimeSpan.FromSeconds(30), "a new control plane process");
        log.WriteLine($"control plane restarted after {killed.ElapsedMilliseconds} ms");
        var resynced = await WaitForAllSyncedAsync(TimeSpan.FromSeconds(60));
        log.WriteLine($"every proxy reconnected and SYNCED {killed.ElapsedMilliseconds} ms after the kill");
        await Task.Delay(TimeSpan.FromSeconds(1)); // keep traffic flowing across the reconnects
        await traffic.CancelAsync();
        var results = await Task.WhenAll(load);
        var ok = results.Sum(r => r.Ok);
        var failed = results.SelectMany(r => r.Failures).ToList();
        log.WriteLine($"during the kill and restart: {ok} ok, {failed.Count} failed {string.Join("; ", failed.Take(5))}");
        Assert.Empty(failed);
        Assert.True(ok > 20, $"only {ok} requests were sent");

        var after = await mesh.WeftAsync("get", "httproute", "catalog-split", "-o", "json");
        Assert.Equal(Spec(before.Output), Spec(after.Output));
        var (probeCode, probeOutput) = await mesh.WeftAsync("get", "service", "durable-probe");
        Assert.True(probeCode == 0, "the apply acknowledged before kill -9 was lost:\n" + probeOutput);
        await mesh.WeftAsync("delete", "service", "durable-probe");
        Assert.Equal(Proxies.Length, resynced.GetProperty("proxies").GetArrayLength());
    }

    private async Task<(int Ok, List<string> Failures)> LoopAsync(CancellationToken stop)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var ok = 0;
        var failures = new List<string>();
        while (!stop.IsCancellationRequested)
        {
            try
            {
                using var response = await http.GetAsync(mesh.Ingress, CancellationToken.None);
                if (response.IsSuccessStatusCode) ok++;
                else failures.Add($"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync(CancellationToken.None)}");
            }
            catch (HttpRequestException e) { failures.Add(e.Message); }
        }
        return (ok, failures);
    }

    private async Task<Dictionary<string, int>> SendAsync(HttpClient http, int count)
    {
        var versions = new Dictionary<string, int>();
        for (var i = 0; i < count; i++)
        {
            using var response = await http.GetAsync(mesh.Ingress);
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.IsSuccessStatusCode, $"request {i}: {(int)response.StatusCode} {body}");
            var m = Version.Match(body);
            Assert.True(m.Success, $"request {i}: no catalog version in {body}");
            // web asked ratings over gRPC through both sidecars (h2c between them).
            Assert.Contains("\"served_by\":\"ratings-0\"", body);
            versions[m.Groups[1].Value] = versions.GetValueOrDefault(m.Groups[1].Value) + 1;
        }
        return versions;
    }

    private async Task<JsonElement> WaitForAllSyncedAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        JsonElement status = default;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                status = await mesh.StatusAsync();
                var proxies = status.GetProperty("proxies").EnumerateArray().ToList();
                if (proxies.Count == Proxies.Length && proxies.All(p => p.GetProperty("syncState").GetString() == "SYNCED")) return status;
            }
            catch (Exception e) when (e is Xunit.Sdk.XunitException or JsonException or KeyNotFoundException or InvalidOperationException) { }
            await Task.Delay(200);
        }
        throw new TimeoutException($"not every proxy SYNCED within {timeout}: {status}");
    }

    private static async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"no {what} within {timeout}");
            await Task.Delay(50);
        }
    }

    /// <summary>The `weft control` child of this mesh's `weft up` (its command line names our data dir).</summary>
    private int ControlPlanePid() => ControlPlanePidOrZero() is var pid and not 0 ? pid : throw new InvalidOperationException("no control plane process");

    private int ControlPlanePidOrZero()
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            string cmdline;
            try { cmdline = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' '); }
            catch (IOException) { continue; }
            catch (UnauthorizedAccessException) { continue; }
            if (cmdline.Contains(" control ", StringComparison.Ordinal) && cmdline.Contains(mesh.DataDir, StringComparison.Ordinal)
                && !cmdline.Contains("setpriv", StringComparison.Ordinal) && Posix.IsAlive(pid))
                return pid;
        }
        return 0;
    }

    private static string Spec(string getJson) =>
        JsonDocument.Parse(getJson[getJson.IndexOf('{')..]).RootElement.GetProperty("spec").GetRawText();

    private static string Describe(Dictionary<string, int> v) => string.Join(", ", v.Select(p => $"{p.Key}={p.Value}"));
}
