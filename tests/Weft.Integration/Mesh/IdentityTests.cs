using System.Diagnostics;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Weft.Integration.Harness;
using Weft.Protocol.Discovery;
using Weft.Protocol.Grpc;

namespace Weft.Integration.Mesh;

/// <summary>
/// Workload identity through the real `weft control`, `weft token create` and the Certify call over
/// gRPC: a bootstrap token obtains its own service account's certificate and nothing else, and no
/// private key leaves the CA's own files (docs/security.md, "Workload identity").
/// </summary>
public sealed class IdentityTests : IAsyncLifetime
{
    private readonly int _apiPort = ShopMesh.FreePort();
    private readonly int _discoveryPort = ShopMesh.FreePort();
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "weft-identity-" + Guid.NewGuid().ToString("N")[..8]);
    private WeftProcess? _control;

    private string Control => $"http://127.0.0.1:{_apiPort}";
    private string DataDir => Path.Combine(_dir, "data");

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_dir);
        _control = WeftProcess.Start(["control", "--data-dir", DataDir, "--api-port", _apiPort.ToString(), "--discovery-tls-port", ShopMesh.FreePort().ToString(), "--discovery-port", _discoveryPort.ToString()]);
        await _control.WaitForLineAsync("control plane ready", TimeSpan.FromSeconds(60));
    }

    public async Task DisposeAsync()
    {
        if (_control is not null) await _control.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private async Task<string> CreateTokenAsync(string serviceAccount)
    {
        var (code, output) = await WeftProcess.RunAsync(["token", "create", serviceAccount, "--control", Control], TimeSpan.FromSeconds(60));
        Assert.True(code == 0, output);
        return output.Split('\n').Single(l => l.StartsWith("weft-bt-", StringComparison.Ordinal)).Trim();
    }

    private static string Csr(ECDsa key, string? san = null)
    {
        var request = new CertificateRequest(new X500DistinguishedName(""), key, HashAlgorithmName.SHA256);
        if (san is not null)
        {
            var names = new SubjectAlternativeNameBuilder();
            names.AddUri(new Uri(san));
            request.CertificateExtensions.Add(names.Build(critical: true));
        }
        return request.CreateSigningRequestPem();
    }

    private async Task<CertifyResponse> CertifyAsync(string? token, string csr)
    {
        using var channel = new GrpcChannel(new Uri($"http://127.0.0.1:{_discoveryPort}"));
        var headers = token is null ? null : new Dictionary<string, string> { ["authorization"] = "Bearer " + token };
        return await channel.UnaryAsync(DiscoveryMethods.Certify, new CertifyRequest { CsrPem = csr },
            new CallOptions(Deadline: DateTimeOffset.UtcNow.AddSeconds(30), Headers: headers));
    }

    [Fact]
    public async Task A_token_obtains_a_certificate_for_its_service_account_that_chains_to_the_trust_bundle()
    {
        var token = await CreateTokenAsync("catalog");
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var response = await CertifyAsync(token, Csr(key));

        Assert.Equal("spiffe://cluster.local/ns/default/sa/catalog", response.SpiffeId);
        using var leaf = X509Certificate2.CreateFromPem(response.CertificatePem);
        Assert.Contains("URI:spiffe://cluster.local/ns/default/sa/catalog", leaf.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single().Format(false).Replace("URL=", "URI:", StringComparison.Ordinal));
        Assert.Equal(key.ExportSubjectPublicKeyInfo(), leaf.GetECDsaPublicKey()!.ExportSubjectPublicKeyInfo());
        Assert.Equal(await File.ReadAllTextAsync(Path.Combine(DataDir, "ca", "root-cert.pem")), response.TrustBundlePem);
        Assert.InRange(DateTimeOffset.FromUnixTimeMilliseconds(response.NotAfterUnixMs) - DateTimeOffset.UtcNow, TimeSpan.FromHours(23.9), TimeSpan.FromHours(24));

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        var roots = new X509Certificate2Collection();
        roots.ImportFromPem(response.TrustBundlePem);
        chain.ChainPolicy.CustomTrustStore.AddRange(roots);
        var intermediates = new X509Certificate2Collection();
        intermediates.ImportFromPem(response.ChainPem);
        chain.ChainPolicy.ExtraStore.AddRange(intermediates);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        Assert.True(chain.Build(leaf), string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation)));
    }

    [Fact]
    public async Task Service_As_token_cannot_obtain_service_Bs_identity()
    {
        var token = await CreateTokenAsync("catalog");
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var refused = await Assert.ThrowsAsync<RpcException>(() => CertifyAsync(token, Csr(key, "spiffe://cluster.local/ns/default/sa/payments")));
        Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
        Assert.Contains("sa/payments", refused.Status.Detail);

        // Whatever the CSR leaves out, the certificate names the token's account.
        var issued = await CertifyAsync(token, Csr(key));
        Assert.EndsWith("/sa/catalog", issued.SpiffeId);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("weft-bt-0000000000000000000000000000000000000000000000000000000000000000")]
    public async Task Without_a_token_this_control_plane_made_there_is_no_certificate(string? token)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var refused = await Assert.ThrowsAsync<RpcException>(() => CertifyAsync(token, Csr(key)));
        Assert.Equal(StatusCode.Unauthenticated, refused.StatusCode);
    }

    [Fact]
    public async Task A_sidecar_obtains_its_certificate_shows_it_and_renews_it_at_half_life_before_it_expires()
    {
        // A minute of life, as MeshConfig allows at least: renewal comes 24 to 36 s after issue.
        var mesh = Path.Combine(_dir, "mesh.yaml");
        await File.WriteAllTextAsync(mesh, "apiVersion: weft.dev/v1\nkind: MeshConfig\nmetadata: { name: default }\nspec:\n  certificates: { workloadTtl: 1m }\n");
        var (applied, applyOutput) = await WeftProcess.RunAsync(["apply", "-f", mesh, "--control", Control], TimeSpan.FromSeconds(60));
        Assert.True(applied == 0, applyOutput);
        var tokenFile = Path.Combine(_dir, "catalog.token");
        await File.WriteAllTextAsync(tokenFile, await CreateTokenAsync("catalog"));
        var admin = ShopMesh.FreePort();
        await using var proxy = WeftProcess.Start(["proxy", "--service", "catalog", "--instance", "catalog-identity", "--app-port", ShopMesh.FreePort().ToString(),
            "--inbound-port", ShopMesh.FreePort().ToString(), "--admin-port", admin.ToString(), "--control", $"http://127.0.0.1:{_discoveryPort}",
            "--bootstrap-token-file", tokenFile]);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{admin}"), Timeout = TimeSpan.FromSeconds(10) };

        var first = await WaitForCertificateAsync(http, previousSerial: null, TimeSpan.FromSeconds(30), proxy);
        var issued = DateTimeOffset.UtcNow;
        Assert.Equal("spiffe://cluster.local/ns/default/sa/catalog", first.GetProperty("spiffeId").GetString());
        var notBefore = first.GetProperty("notBefore").GetDateTimeOffset();
        var notAfter = first.GetProperty("notAfter").GetDateTimeOffset();
        Assert.Equal(TimeSpan.FromMinutes(2), notAfter - notBefore);    // a minute of life, issued a minute back for clock skew
        // `weft status` shows the expiry beside the proxy (the CA records what it issued to which instance).
        var expiryCell = notAfter.UtcDateTime.ToString("yyyy-MM-dd HH:mm'Z'", System.Globalization.CultureInfo.InvariantCulture);
        var statusDeadline = DateTimeOffset.UtcNow.AddSeconds(20);
        var statusOutput = "";
        while (DateTimeOffset.UtcNow < statusDeadline)
        {
            (_, statusOutput) = await WeftProcess.RunAsync(["status", "--control", Control], TimeSpan.FromSeconds(60));
            if (statusOutput.Contains(expiryCell, StringComparison.Ordinal))
                break;
            await Task.Delay(200);
        }
        Assert.Matches(@"catalog-identity .* \d{4}-\d\d-\d\d \d\d:\d\dZ \(\dm\d\ds\)", statusOutput);
        var metrics = await http.GetStringAsync("/stats/prometheus");
        Assert.Contains($"weft_certificate_expiry_timestamp_seconds{{spiffe_id=\"spiffe://cluster.local/ns/default/sa/catalog\"}} {notAfter.ToUnixTimeSeconds()}", metrics);

        var renewed = await WaitForCertificateAsync(http, first.GetProperty("serialNumber").GetString(), TimeSpan.FromSeconds(60), proxy);
        var seen = DateTimeOffset.UtcNow;
        Assert.True(seen < notAfter, $"the renewal came at {seen:u}, after the first certificate expired at {notAfter:u}");
        // Half its life, give or take a tenth: 24 to 36 s after it arrived (the poll sees it up to 0.2 s late).
        Assert.InRange((seen - issued).TotalSeconds, 23, 40);
        Assert.True(renewed.GetProperty("notAfter").GetDateTimeOffset() > notAfter);
        Assert.DoesNotContain("PRIVATE KEY", await http.GetStringAsync("/certs"));
    }

    /// <summary>Polls /certs until it shows a certificate whose serial is not <paramref name="previousSerial"/>.</summary>
    private static async Task<System.Text.Json.JsonElement> WaitForCertificateAsync(HttpClient http, string? previousSerial, TimeSpan patience, WeftProcess proxy)
    {
        var deadline = DateTimeOffset.UtcNow + patience;
        var last = "";
        while (DateTimeOffset.UtcNow < deadline)
        {
            try
            {
                last = await http.GetStringAsync("/certs");
                var certificate = System.Text.Json.JsonDocument.Parse(last).RootElement.GetProperty("certificate");
                if (certificate.ValueKind == System.Text.Json.JsonValueKind.Object && certificate.GetProperty("serialNumber").GetString() != previousSerial)
                    return certificate.Clone();
            }
            catch (HttpRequestException)
            {
                // the admin port is not up yet
            }
            await Task.Delay(200);
        }
        throw new TimeoutException($"no {(previousSerial is null ? "" : "new ")}certificate within {patience}: /certs said {last}\n{proxy.Output}");
    }

    [Fact]
    public async Task Tokens_are_made_only_with_the_admin_token()
    {
        var (code, output) = await WeftProcess.RunAsync(["token", "create", "catalog", "--control", Control], TimeSpan.FromSeconds(60),
            env: new Dictionary<string, string> { ["WEFT_TOKEN"] = new string('0', 64) });
        Assert.NotEqual(0, code);
        Assert.Contains("does not match", output);
    }

    [Fact]
    public async Task No_private_key_is_on_disk_outside_the_cas_own_files_or_in_any_api_response()
    {
        var token = await CreateTokenAsync("catalog");
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var issued = await CertifyAsync(token, Csr(key));
        Assert.DoesNotContain("PRIVATE KEY", issued.ToString());

        // Every file of the data dir but the store's lock, which the running control plane holds exclusively.
        var files = Directory.EnumerateFiles(DataDir, "*", SearchOption.AllDirectories).Where(f => Path.GetFileName(f) != "lock")
            .ToDictionary(f => Path.GetRelativePath(DataDir, f), File.ReadAllText);
        Assert.Contains("bootstrap-tokens.json", files.Keys);
        var withKeys = files.Where(f => f.Value.Contains("PRIVATE KEY", StringComparison.Ordinal)).Select(f => f.Key).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(["ca/ca-key.pem", "ca/root-key.pem"], withKeys);
        // The bootstrap token itself is not on disk either: only its hash.
        Assert.DoesNotContain(files, f => f.Value.Contains(token, StringComparison.Ordinal));

        using var http = new HttpClient { BaseAddress = new Uri(Control), Timeout = TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", (await File.ReadAllTextAsync(Path.Combine(DataDir, "api-token"))).Trim());
        foreach (var path in (string[])["/api/v1/resources", "/api/v1/history", "/api/v1/proxies", "/api/v1/workloads", "/api/v1/revision", "/metrics", "/ready"])
        {
            var body = await http.GetStringAsync(path);
            Assert.DoesNotContain("PRIVATE KEY", body);
            Assert.DoesNotContain(token, body);
        }
    }
}
