using System.Net;
using System.Text.Json;
using Weft.Integration.Harness;

namespace Weft.Integration.DataPlane;

/// <summary>
/// `weft ca rotate` under traffic (docs/security.md, "Root rotation"): two real sidecars on STRICT mTLS
/// with one-minute certificates, requests flowing the whole time the new root is distributed, every
/// workload re-issued under it and the old root retired; not one request fails, and afterwards new
/// connections handshake with certificates of the new root checked against a bundle holding only it.
/// </summary>
public sealed class RootRotationUnderTrafficTests(Xunit.Abstractions.ITestOutputHelper log)
{

    private static async Task<(string IssuerRoot, string[] Bundle)> CertsAsync(HttpClient http, TwoSidecars.Sidecar sidecar)
    {
        using var certs = JsonDocument.Parse(await http.GetStringAsync(sidecar.Admin("/certs")));
        var bundle = certs.RootElement.GetProperty("trustBundle").EnumerateArray().Select(r => r.GetProperty("sha256").GetString()!.ToLowerInvariant()).ToArray();
        return (certs.RootElement.GetProperty("certificate").GetProperty("issuerRootSha256").GetString()!, bundle);
    }

    [Fact]
    public async Task Requests_through_two_STRICT_sidecars_never_fail_while_the_root_is_rotated()
    {
        await using var app = await TestApp.StartAsync();
        // Discovery over TLS, as weft up's sidecars reach it: a proxy holding a certificate of the old root
        // must still open it (to renew) after the switch, and trust the control plane's new certificate.
        await using var mesh = await TwoSidecars.StartAsync([new ServerApp("web", app.Http1Port, "http")], config: TwoSidecars.StrictWithOneMinuteCertificates, tlsDiscovery: true);
        using var admin = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var server = mesh.Server("web");
        var (oldRoot, oldBundle) = await CertsAsync(admin, server);
        Assert.Equal([oldRoot], oldBundle);

        // Caller 0 opens a fresh connection every second, so handshakes happen all through the rotation.
        await using var traffic = ContinuousTraffic.Start(mesh.Outbound("web", "/hello"), freshEvery: TimeSpan.FromSeconds(1));
        await traffic.FlowsAsync(200, "before the rotation");

        var (code, output) = await WeftProcess.RunAsync(["ca", "rotate", "--wait", "--timeout", "2m", "--control", mesh.ControlUrl], TimeSpan.FromMinutes(3));
        log.WriteLine(output);
        Assert.True(code == 0, output);
        Assert.Contains("rotation started", output);
        Assert.Contains("retired", output);

        // Both sidecars hold a certificate of the new root and trust only the new root.
        var (newRoot, serverBundle) = await CertsAsync(admin, server);
        var (clientRoot, clientBundle) = await CertsAsync(admin, mesh.Client);
        Assert.NotEqual(oldRoot, newRoot);
        Assert.Equal(newRoot, clientRoot);
        await Eventually.HoldsAsync(async () => (await CertsAsync(admin, server)).Bundle.SequenceEqual([newRoot]) && (await CertsAsync(admin, mesh.Client)).Bundle.SequenceEqual([newRoot]),
            TimeSpan.FromSeconds(10), () => $"bundles after the rotation: server [{string.Join(", ", serverBundle)}], client [{string.Join(", ", clientBundle)}]");

        // New connections handshake with the new root alone: 32 requests held at once open new ones.
        var acceptedBefore = ContinuousTraffic.AcceptedMtls(await mesh.MetricsAsync(server));
        using (var burst = new HttpClient { Timeout = TimeSpan.FromSeconds(20) })
        {
            var held = await Task.WhenAll(Enumerable.Range(0, 32).Select(_ => burst.GetAsync(mesh.Outbound("web", "/delay?ms=300"))));
            Assert.All(held, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        }
        Assert.True(ContinuousTraffic.AcceptedMtls(await mesh.MetricsAsync(server)) >= acceptedBefore + 16, "the burst opened no new mTLS connections");
        await traffic.FlowsAsync(200, "after the rotation");
        await traffic.StopAsync();

        var failures = traffic.Failures;
        log.WriteLine($"{traffic.Sent} requests, {failures.Count} failed; root {oldRoot[..16]} -> {newRoot[..16]}");
        Assert.True(failures.Count == 0, $"{failures.Count} of {traffic.Sent} requests failed: {string.Join("; ", failures.Distinct().Take(5))}");
        Assert.True(traffic.Sent > 1000, $"only {traffic.Sent} requests were sent");
    }
}
