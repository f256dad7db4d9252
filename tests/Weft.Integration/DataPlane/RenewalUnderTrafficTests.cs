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
    private const string Config = """
        apiVersion: weft.dev/v1
        kind: MeshConfig
        metadata: { name: default }
        spec:
          mtls: { mode: STRICT }
          certificates: { workloadTtl: 1m }
        """;

    private static async Task<string?> SerialAsync(HttpClient http, TwoSidecars.Sidecar sidecar)
    {
        using var certs = JsonDocument.Parse(await http.GetStringAsync(sidecar.Admin("/certs")));
        var certificate = certs.RootElement.GetProperty("certificate");
        return certificate.ValueKind == JsonValueKind.Object ? certificate.GetProperty("serialNumber").GetString() : null;
    }

    /// <summary>mTLS connections the sidecar's inbound port accepted so far.</summary>
    private static long Accepted(string metrics) =>
        System.Text.RegularExpressions.Regex.Matches(metrics, @"^weft_mtls_connections_total\{[^}]*outcome=""accepted""\} (\d+)$", System.Text.RegularExpressions.RegexOptions.Multiline)
            .Sum(m => long.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));

    [Fact]
    public async Task Requests_through_two_STRICT_sidecars_never_fail_while_both_renew_their_one_minute_certificates()
    {
        await using var app = await TestApp.StartAsync();
        await using var mesh = await TwoSidecars.StartAsync([new ServerApp("web", app.Http1Port, "http")], config: Config);
        using var admin = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var server = mesh.Server("web");
        var (serverFirst, clientFirst) = (await SerialAsync(admin, server), await SerialAsync(admin, mesh.Client));
        Assert.NotNull(serverFirst);
        Assert.NotNull(clientFirst);

        // Four callers, each on its own keep-alive connection, plus a fresh connection now and then.
        var failures = new List<string>();
        var sent = 0;
        using var stop = new CancellationTokenSource();
        async Task CallAsync(int caller)
        {
            using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false, PooledConnectionLifetime = TimeSpan.FromSeconds(caller == 0 ? 2 : 600) })
            {
                Timeout = TimeSpan.FromSeconds(10),
            };
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    using var response = await http.GetAsync(mesh.Outbound("web", "/hello"));
                    Interlocked.Increment(ref sent);
                    if (response.StatusCode != HttpStatusCode.OK)
                    {
                        var body = await response.Content.ReadAsStringAsync();
                        lock (failures) failures.Add($"{(int)response.StatusCode} {body}");
                    }
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                    lock (failures) failures.Add(e.Message);
                }
            }
        }
        var callers = Enumerable.Range(0, 4).Select(CallAsync).ToList();

        await Eventually.HoldsAsync(async () => await SerialAsync(admin, server) != serverFirst && await SerialAsync(admin, mesh.Client) != clientFirst,
            TimeSpan.FromSeconds(60), () => "the sidecars did not both renew within 60 s");
        // Open connections kept their certificates; new ones handshake with the renewed ones: 32 requests
        // held at the app at once make the client sidecar open new connections to the server sidecar.
        var acceptedBefore = Accepted(await mesh.MetricsAsync(server));
        using (var burst = new HttpClient { Timeout = TimeSpan.FromSeconds(20) })
        {
            var held = await Task.WhenAll(Enumerable.Range(0, 32).Select(_ => burst.GetAsync(mesh.Outbound("web", "/delay?ms=300"))));
            Assert.All(held, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        }
        Assert.True(Accepted(await mesh.MetricsAsync(server)) >= acceptedBefore + 16, "the burst opened no new mTLS connections");
        var before = Volatile.Read(ref sent);
        await Eventually.HoldsAsync(() => Volatile.Read(ref sent) > before + 200, TimeSpan.FromSeconds(20), () => "traffic stalled after the renewal");
        await stop.CancelAsync();
        await Task.WhenAll(callers);

        log.WriteLine($"{sent} requests, {failures.Count} failed; certificates renewed: server {serverFirst} -> {await SerialAsync(admin, server)}, client {clientFirst} -> {await SerialAsync(admin, mesh.Client)}");
        Assert.True(failures.Count == 0, $"{failures.Count} of {sent} requests failed: {string.Join("; ", failures.Distinct().Take(5))}");
        Assert.True(sent > 1000, $"only {sent} requests were sent");
        Assert.Contains("mtls=\"true\"", await mesh.MetricsAsync(server));
    }
}
