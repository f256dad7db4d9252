using System.Net;
using System.Text.Json;

namespace Weft.Integration.DataPlane;

/// <summary>
/// Certificate renewal is invisible to traffic (docs/security.md, "Workload identity" and "mTLS between
/// sidecars"): two real sidecars on STRICT mTLS with one-minute certificates, requests flowing through
/// them the whole time both renew (at half life, 24 to 36 s in), not one of them failing.
/// </summary>
public sealed class RenewalUnderTrafficTests(Xunit.Abstractions.ITestOutputHelper log)
{

    private static async Task<string?> SerialAsync(HttpClient http, TwoSidecars.Sidecar sidecar)
    {
        using var certs = JsonDocument.Parse(await http.GetStringAsync(sidecar.Admin("/certs")));
        var certificate = certs.RootElement.GetProperty("certificate");
        return certificate.ValueKind == JsonValueKind.Object ? certificate.GetProperty("serialNumber").GetString() : null;
    }

    [Fact]
    public async Task Requests_through_two_STRICT_sidecars_never_fail_while_both_renew_their_one_minute_certificates()
    {
        await using var app = await TestApp.StartAsync();
        await using var mesh = await TwoSidecars.StartAsync([new ServerApp("web", app.Http1Port, "http")], config: TwoSidecars.StrictWithOneMinuteCertificates);
        using var admin = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var server = mesh.Server("web");
        var (serverFirst, clientFirst) = (await SerialAsync(admin, server), await SerialAsync(admin, mesh.Client));
        Assert.NotNull(serverFirst);
        Assert.NotNull(clientFirst);

        // Four callers, each on its own keep-alive connection, plus a fresh connection now and then.
        await using var traffic = ContinuousTraffic.Start(mesh.Outbound("web", "/hello"));

        await Eventually.HoldsAsync(async () => await SerialAsync(admin, server) != serverFirst && await SerialAsync(admin, mesh.Client) != clientFirst,
            TimeSpan.FromSeconds(60), () => "the sidecars did not both renew within 60 s");
        // Open connections kept their certificates; new ones handshake with the renewed ones: 32 requests
        // held at the app at once make the client sidecar open new connections to the server sidecar.
        var acceptedBefore = ContinuousTraffic.AcceptedMtls(await mesh.MetricsAsync(server));
        using (var burst = new HttpClient { Timeout = TimeSpan.FromSeconds(20) })
        {
            var held = await Task.WhenAll(Enumerable.Range(0, 32).Select(_ => burst.GetAsync(mesh.Outbound("web", "/delay?ms=300"))));
            Assert.All(held, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        }
        Assert.True(ContinuousTraffic.AcceptedMtls(await mesh.MetricsAsync(server)) >= acceptedBefore + 16, "the burst opened no new mTLS connections");
        await traffic.FlowsAsync(200, "after the renewal");
        await traffic.StopAsync();

        var failures = traffic.Failures;
        log.WriteLine($"{traffic.Sent} requests, {failures.Count} failed; certificates renewed: server {serverFirst} -> {await SerialAsync(admin, server)}, client {clientFirst} -> {await SerialAsync(admin, mesh.Client)}");
        Assert.True(failures.Count == 0, $"{failures.Count} of {traffic.Sent} requests failed: {string.Join("; ", failures.Distinct().Take(5))}");
        Assert.True(traffic.Sent > 1000, $"only {traffic.Sent} requests were sent");
        Assert.Contains("mtls=\"true\"", await mesh.MetricsAsync(server));
    }
}
