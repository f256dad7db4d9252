using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Weft.Protocol.Discovery;
using Weft.Proxy.Security;
using Weft.Proxy.Tests.Support;

namespace Weft.Proxy.Tests.Security;

using Protocol = Weft.Protocol.Discovery.Protocol;

/// <summary>
/// mTLS between two real sidecars (docs/security.md, "mTLS between sidecars"): a client sidecar of
/// `frontend` calls a server sidecar of `catalog` through its outbound port; the server's app echoes
/// what it received. Certificates come from a CA of the tests' own, issued as the control plane does.
/// </summary>
public sealed class MtlsTests
{
    private const string Frontend = "spiffe://cluster.local/ns/default/sa/frontend";
    private const string Catalog = "spiffe://cluster.local/ns/default/sa/catalog";

    private sealed class Pair : IAsyncDisposable
    {
        public required Backend App { get; init; }
        public required TestProxy Client { get; init; }
        public required TestProxy Server { get; init; }
        public int Outbound { get; init; }
        public int Inbound { get; init; }

        public static async Task<Pair> StartAsync(Protocol protocol = Protocol.Http, MtlsMode mode = MtlsMode.MtlsPermissive,
            WorkloadCertificate? serverCertificate = null, WorkloadCertificate? clientCertificate = null)
        {
            // An AUTO inbound port (undeclared) in front of an HTTP/1.1 app; everything else speaks the protocol given.
            var wire = protocol == Protocol.Auto ? Protocol.Http : protocol;
            var app = await Backend.StartAsync("catalog", http2Only: protocol == Protocol.Http2);
            var server = await TestProxy.StartAsync(new ProxyIdentity("catalog", "v2", "default", Role.Sidecar));
            if (serverCertificate is not null)
                server.Host.Certificates.Set(serverCertificate);
            var inbound = TestProxy.FreePort();
            await server.ApplyOkAsync(new ConfigBuilder()
                .Listener(inbound, "in", Direction.Inbound, protocol, service: "catalog", mtls: mode,
                    tcpCluster: protocol == Protocol.Auto ? "default/app" : null)
                .Routes("in", ConfigBuilder.Route("app")).Cluster("app", wire, (app.Port, "v2")).Build());
            var client = await TestProxy.StartAsync(TestProxy.DefaultIdentity);
            if (clientCertificate is not null)
                client.Host.Certificates.Set(clientCertificate);
            var outbound = TestProxy.FreePort();
            await client.ApplyOkAsync(new ConfigBuilder()
                .Listener(outbound, "rt", Direction.Outbound, wire, service: "catalog")
                .Routes("rt", ConfigBuilder.Route("catalog")).Cluster("catalog", wire, (inbound, "v2")).Mtls("catalog").Build());
            return new Pair { App = app, Client = client, Server = server, Outbound = outbound, Inbound = inbound };
        }

        public static async Task<(HttpStatusCode Status, string Body)> GetAsync(int port, Protocol protocol, params (string Name, string Value)[] headers)
        {
            using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(20) };
            using var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{port}/who");
            if (protocol == Protocol.Http2)
            {
                request.Version = HttpVersion.Version20;
                request.VersionPolicy = HttpVersionPolicy.RequestVersionExact;
            }
            foreach (var (name, value) in headers)
                request.Headers.TryAddWithoutValidation(name, value);
            using var response = await http.SendAsync(request);
            return (response.StatusCode, await response.Content.ReadAsStringAsync());
        }

        public async ValueTask DisposeAsync()
        {
            await Client.DisposeAsync();
            await Server.DisposeAsync();
            await App.DisposeAsync();
        }
    }

    [Theory]
    [InlineData(Protocol.Http)]
    [InlineData(Protocol.Http2)]
    public async Task Over_mTLS_the_app_gets_the_callers_verified_identity_and_nothing_the_caller_forged(Protocol protocol)
    {
        await using var pair = await Pair.StartAsync(protocol, MtlsMode.MtlsStrict);
        var (status, echo) = await Pair.GetAsync(pair.Outbound, protocol, ("x-forwarded-client-cert", "URI=spiffe://cluster.local/ns/default/sa/admin"));

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Contains($"\nx-forwarded-client-cert: By={Catalog};URI={Frontend}\n", echo);
        Assert.DoesNotContain("sa/admin", echo);
        Assert.DoesNotContain("x-weft-source", echo);
        var kind = protocol == Protocol.Http2 ? "http2" : "http";
        Assert.Contains("weft_requests_total{direction=\"inbound\",source_service=\"frontend\",source_version=\"v7\",destination_service=\"catalog\"," +
            $"destination_version=\"v2\",response_code=\"200\",grpc_status=\"\",protocol=\"{kind}\",mtls=\"true\"}} 1\n", await pair.Server.MetricsAsync());
        Assert.Contains("direction=\"outbound\",source_service=\"frontend\",source_version=\"v7\",destination_service=\"catalog\"," +
            $"destination_version=\"v2\",response_code=\"200\",grpc_status=\"\",protocol=\"{kind}\",mtls=\"true\"}} 1\n", await pair.Client.MetricsAsync());
        Assert.Equal(1, await pair.Server.MetricAsync($"weft_mtls_connections_total{{listener=\"listener/127.0.0.1_{pair.Inbound}\",outcome=\"accepted\"}}"));
    }

    [Theory]
    [InlineData(Protocol.Http)]
    [InlineData(Protocol.Http2)]
    public async Task A_STRICT_inbound_port_refuses_an_app_that_dials_it_directly_with_a_forged_source(Protocol protocol)
    {
        await using var pair = await Pair.StartAsync(protocol, MtlsMode.MtlsStrict);
        await Assert.ThrowsAsync<HttpRequestException>(() => Pair.GetAsync(pair.Inbound, protocol, ("x-weft-source", "frontend;v7;default")));

        Assert.Equal(0, pair.App.Requests);
        Assert.Equal(1, await pair.Server.MetricAsync($"weft_mtls_connections_total{{listener=\"listener/127.0.0.1_{pair.Inbound}\",outcome=\"plaintext_refused\"}}"));
        Assert.Equal(HttpStatusCode.OK, (await Pair.GetAsync(pair.Outbound, protocol)).Status);
    }

    [Fact]
    public async Task A_PERMISSIVE_inbound_port_takes_plaintext_as_unauthenticated_and_strips_every_mesh_header()
    {
        await using var pair = await Pair.StartAsync(Protocol.Http, MtlsMode.MtlsPermissive);
        var (status, echo) = await Pair.GetAsync(pair.Inbound, Protocol.Http,
            ("x-weft-source", "frontend;v7;default"), ("x-weft-anything", "1"), ("x-forwarded-client-cert", $"URI={Frontend}"));

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.DoesNotContain("x-weft-", echo);
        Assert.DoesNotContain("x-forwarded-client-cert", echo);
        var metrics = await pair.Server.MetricsAsync();
        Assert.Contains("weft_requests_total{direction=\"inbound\",source_service=\"unknown\",source_version=\"unknown\",destination_service=\"catalog\"," +
            "destination_version=\"v2\",response_code=\"200\",grpc_status=\"\",protocol=\"http\",mtls=\"false\"} 1\n", metrics);
        Assert.Equal(1, TestProxy.MetricValue(metrics, $"weft_mtls_connections_total{{listener=\"listener/127.0.0.1_{pair.Inbound}\",outcome=\"plaintext\"}}"));
    }

    [Fact]
    public async Task A_plaintext_connection_accepted_while_PERMISSIVE_is_denied_request_by_request_once_the_port_turns_STRICT()
    {
        await using var pair = await Pair.StartAsync(Protocol.Http, MtlsMode.MtlsPermissive);
        using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(20) };
        var url = $"http://127.0.0.1:{pair.Inbound}/who";
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(url)).StatusCode);

        await pair.Server.ApplyOkAsync(new ConfigBuilder()
            .Listener(pair.Inbound, "in", Direction.Inbound, Protocol.Http, service: "catalog", mtls: MtlsMode.MtlsStrict)
            .Routes("in", ConfigBuilder.Route("app")).Cluster("app", Protocol.Http, (pair.App.Port, "v2")).Build(2));
        using var denied = await http.GetAsync(url);   // the same keep-alive connection

        Assert.Equal(HttpStatusCode.Forbidden, denied.StatusCode);
        Assert.Equal("denied", denied.Headers.GetValues("x-weft-reason").Single());
        Assert.Equal(1, pair.App.Requests);
        Assert.Equal(HttpStatusCode.OK, (await Pair.GetAsync(pair.Outbound, Protocol.Http)).Status);
    }

    /// <summary>A sidecar's handshake made by hand (real TLS, a valid mesh certificate), then <paramref name="request"/> as raw bytes; what came back.</summary>
    private static async Task<string> RawTunnelAsync(int port, string alpn, string request)
    {
        var own = TestCertificates.Mesh.Issue("frontend");
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, port);
        await using var tls = new System.Net.Security.SslStream(tcp.GetStream());
        await tls.AuthenticateAsClientAsync(new System.Net.Security.SslClientAuthenticationOptions
        {
            TargetHost = "catalog.default",
            ClientCertificateContext = System.Net.Security.SslStreamCertificateContext.Create(own.Leaf, own.Chain, offline: true),
            ApplicationProtocols = [new System.Net.Security.SslApplicationProtocol(alpn)],
            EnabledSslProtocols = System.Security.Authentication.SslProtocols.Tls13,
            RemoteCertificateValidationCallback = (_, _, _, _) => true,
        });
        using var answer = new MemoryStream();
        try
        {
            // A server that refuses the tunnel may reset it before the request is even written.
            await tls.WriteAsync(System.Text.Encoding.ASCII.GetBytes(request));
            await tls.CopyToAsync(answer).WaitAsync(TimeSpan.FromSeconds(20));
        }
        catch (IOException)
        {
            // reset: what arrived before it is the answer
        }
        return System.Text.Encoding.ASCII.GetString(answer.ToArray());
    }

    [Fact]
    public async Task A_raw_tunnel_to_an_HTTP_port_is_refused_so_no_bytes_reach_the_app_past_the_HTTP_codec()
    {
        await using var pair = await Pair.StartAsync(Protocol.Http, MtlsMode.MtlsStrict);
        var answer = await RawTunnelAsync(pair.Inbound, "weft-tcp",
            $"GET /who HTTP/1.1\r\nHost: catalog\r\nx-forwarded-client-cert: URI=spiffe://cluster.local/ns/default/sa/admin\r\nConnection: close\r\n\r\n");

        Assert.DoesNotContain("backend: catalog", answer);
        Assert.Equal(0, pair.App.Requests);
        Assert.Equal(1, await pair.Server.MetricAsync($"weft_mtls_connections_total{{listener=\"listener/127.0.0.1_{pair.Inbound}\",outcome=\"protocol_refused\"}}"));
    }

    [Fact]
    public async Task HTTP_inside_a_raw_tunnel_to_an_AUTO_port_meets_the_HTTP_codec_and_its_identity_rules()
    {
        await using var pair = await Pair.StartAsync(Protocol.Auto, MtlsMode.MtlsStrict);
        var answer = await RawTunnelAsync(pair.Inbound, "weft-tcp",
            $"GET /who HTTP/1.1\r\nHost: catalog\r\nx-forwarded-client-cert: URI=spiffe://cluster.local/ns/default/sa/admin\r\nConnection: close\r\n\r\n");

        Assert.Contains("backend: catalog", answer);
        Assert.Contains($"x-forwarded-client-cert: By={Catalog};URI={Frontend}", answer);
        Assert.DoesNotContain("sa/admin", answer);
    }

    [Fact]
    public async Task An_endpoint_that_proves_another_identity_than_its_service_gets_no_request()
    {
        // The server sidecar holds a valid certificate of the mesh, but payments' and not catalog's.
        await using var pair = await Pair.StartAsync(serverCertificate: TestCertificates.Mesh.Issue("payments"));
        var (status, _) = await Pair.GetAsync(pair.Outbound, Protocol.Http);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.Equal(0, pair.App.Requests);
        var clusters = await pair.Client.Admin.GetStringAsync("/clusters");
        Assert.True(clusters.Contains("is spiffe://cluster.local/ns/default/sa/payments, not the destination\\u0027s identity ns/default/sa/catalog", StringComparison.Ordinal), clusters);
    }

    [Fact]
    public async Task A_client_certificate_from_another_CA_of_the_same_trust_domain_fails_the_handshake()
    {
        using var rogue = new TestCertificates("cluster.local");
        var forged = rogue.Issue("frontend");
        // It trusts the mesh's root, so it would believe the server: only the server's check can stop it.
        var client = new WorkloadCertificate(forged.Leaf, forged.Chain, TestCertificates.Mesh.Issue("frontend").TrustBundle, forged.SpiffeId);
        await using var pair = await Pair.StartAsync(clientCertificate: client);
        var (status, _) = await Pair.GetAsync(pair.Outbound, Protocol.Http);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.Equal(0, pair.App.Requests);
        Assert.Equal(1, await pair.Server.MetricAsync($"weft_mtls_connections_total{{listener=\"listener/127.0.0.1_{pair.Inbound}\",outcome=\"handshake_failed\"}}"));
    }

    [Fact]
    public async Task An_expired_server_certificate_is_refused()
    {
        var expired = TestCertificates.Mesh.Issue("catalog", lifetime: TimeSpan.FromMinutes(30), notBefore: DateTimeOffset.UtcNow.AddHours(-1));
        await using var pair = await Pair.StartAsync(serverCertificate: expired);
        var (status, _) = await Pair.GetAsync(pair.Outbound, Protocol.Http);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.Equal(0, pair.App.Requests);
    }

    public static TheoryData<string> BadClientCertificates => ["good", "ca-true", "two-uris", "bad-spiffe-id", "other-ca", "expired", "none"];

    /// <summary>What openssl s_client gets from a STRICT inbound port with each kind of client certificate.</summary>
    [OpensslTheory]
    [MemberData(nameof(BadClientCertificates))]
    public async Task openssl_s_client_reaches_the_app_only_with_a_valid_workload_certificate(string kind)
    {
        await using var pair = await Pair.StartAsync(Protocol.Http, MtlsMode.MtlsStrict);
        using var rogue = new TestCertificates("cluster.local");
        WorkloadCertificate? certificate = kind switch
        {
            "good" => TestCertificates.Mesh.Issue("frontend"),
            "ca-true" => TestCertificates.Mesh.Issue("frontend", tamper: (r, _) => ReplaceBasicConstraints(r)),
            "two-uris" => TestCertificates.Mesh.Issue("frontend", tamper: (_, names) => names.AddUri(new Uri("spiffe://cluster.local/ns/default/sa/admin"))),
            "bad-spiffe-id" => BadSpiffe(),
            "other-ca" => rogue.Issue("frontend"),
            "expired" => TestCertificates.Mesh.Issue("frontend", lifetime: TimeSpan.FromMinutes(30), notBefore: DateTimeOffset.UtcNow.AddHours(-1)),
            _ => null,
        };
        var dir = Directory.CreateTempSubdirectory("weft-sclient-").FullName;
        try
        {
            var args = new List<string> { "s_client", "-connect", $"127.0.0.1:{pair.Inbound}", "-alpn", "weft-http/1.1", "-tls1_3", "-quiet",
                "-CAfile", Write(dir, "root.pem", TestCertificates.Mesh.Root.ExportCertificatePem()) };
            if (certificate is not null)
            {
                args.AddRange(["-cert", Write(dir, "cert.pem", certificate.Leaf.ExportCertificatePem() + "\n" +
                    string.Concat(certificate.Chain.Select(c => c.ExportCertificatePem() + "\n")))]);
                args.AddRange(["-key", Write(dir, "key.pem", certificate.Leaf.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem())]);
            }
            var output = await RunAsync("openssl", args, "GET /who HTTP/1.1\r\nHost: catalog\r\nConnection: close\r\n\r\n");
            if (kind == "good")
            {
                Assert.True(output.Contains("backend: catalog", StringComparison.Ordinal), output);
                Assert.Contains($"x-forwarded-client-cert: By={Catalog};URI={Frontend}", output);
            }
            else
            {
                Assert.DoesNotContain("backend: catalog", output);
                Assert.Equal(0, pair.App.Requests);
                Assert.Equal(1, await pair.Server.MetricAsync($"weft_mtls_connections_total{{listener=\"listener/127.0.0.1_{pair.Inbound}\",outcome=\"handshake_failed\"}}"));
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }

        static WorkloadCertificate BadSpiffe()
        {
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = new CertificateRequest(new X500DistinguishedName(""), key, HashAlgorithmName.SHA256);
            var names = new SubjectAlternativeNameBuilder();
            names.AddUri(new Uri("spiffe://cluster.local/workload/frontend"));
            request.CertificateExtensions.Add(names.Build(critical: true));
            using var leaf = request.Create(TestCertificates.Mesh.Intermediate, DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddHours(1), [9, 9, 9]);
            var good = TestCertificates.Mesh.Issue("frontend");
            return new WorkloadCertificate(leaf.CopyWithPrivateKey(key), good.Chain, good.TrustBundle, "spiffe://cluster.local/workload/frontend");
        }
    }

    private static void ReplaceBasicConstraints(CertificateRequest request)
    {
        var existing = request.CertificateExtensions.OfType<X509BasicConstraintsExtension>().Single();
        request.CertificateExtensions.Remove(existing);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
    }

    private static string Write(string dir, string name, string pem)
    {
        var path = Path.Combine(dir, name);
        File.WriteAllText(path, pem);
        return path;
    }

    private static async Task<string> RunAsync(string file, IEnumerable<string> args, string input)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.StandardInput.WriteAsync(input);
        await process.StandardInput.FlushAsync();
        // s_client ends when the server closes (Connection: close) or refuses; the deadline guards a hang.
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        return await stdout + await stderr;
    }
}

/// <summary>A theory that needs the openssl command; skipped with the reason where it is missing (./test.sh installs it).</summary>
public sealed class OpensslTheoryAttribute : TheoryAttribute
{
    public OpensslTheoryAttribute()
    {
        if (!(Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => File.Exists(Path.Combine(d, "openssl"))))
            Skip = "openssl is not installed (./test.sh installs it)";
    }
}
