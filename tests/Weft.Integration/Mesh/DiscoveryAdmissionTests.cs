using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Weft.Integration.DataPlane;
using Weft.Integration.Harness;
using Weft.Protocol.Discovery;
using Weft.Protocol.Grpc;

namespace Weft.Integration.Mesh;

/// <summary>
/// A locked discovery port, against the real `weft control` over gRPC (docs/security.md, "Discovery"):
/// a stream needs a bootstrap token, registers only its own service account's service at the address it
/// connects from, and cannot take a live instance's place.
/// </summary>
public sealed class DiscoveryAdmissionTests : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private readonly int _apiPort = ShopMesh.FreePort();
    private readonly int _discoveryPort = ShopMesh.FreePort();
    private readonly int _tlsPort = ShopMesh.FreePort();
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "weft-admission-" + Guid.NewGuid().ToString("N")[..8]);
    private readonly List<IAsyncDisposable> _calls = [];
    private GrpcChannel? _channel;
    private WeftProcess? _control;

    private string DataDir => Path.Combine(_dir, "data");

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_dir);
        _control = WeftProcess.Start(["control", "--data-dir", DataDir, "--api-port", _apiPort.ToString(), "--discovery-tls-port", _tlsPort.ToString(), "--discovery-port", _discoveryPort.ToString()]);
        await _control.WaitForLineAsync("control plane ready", TimeSpan.FromSeconds(60));
        _channel = new GrpcChannel(new Uri($"http://127.0.0.1:{_discoveryPort}"));
    }

    public async Task DisposeAsync()
    {
        foreach (var call in _calls) await call.DisposeAsync();
        _channel?.Dispose();
        if (_control is not null) await _control.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private string Token(string serviceAccount) => File.ReadAllText(TokenFiles.Create(_apiPort, DataDir, serviceAccount)).Trim();

    private static Node Node(string id, string service, uint inboundPort, string address = "127.0.0.1") =>
        new() { Id = id, Service = service, Namespace = "default", Address = address, InboundPort = inboundPort, AppPort = 1, AppProtocol = "http" };

    /// <summary>Opens a stream as <paramref name="node"/> and returns its first response (throws the refusal).</summary>
    private async Task<(IStreamingCall<DiscoveryRequest, DiscoveryResponse> Call, DiscoveryResponse First)> OpenAsync(Node node, string? token)
    {
        using var timeout = new CancellationTokenSource(Patience);
        var headers = token is null ? null : new Dictionary<string, string> { ["authorization"] = "Bearer " + token };
        var call = _channel!.DuplexStreaming(DiscoveryMethods.Stream, new CallOptions(Headers: headers));
        _calls.Add(call);
        await call.RequestStream.WriteAsync(new DiscoveryRequest { Node = node }, timeout.Token);
        var first = await call.ResponseStream.ReadAsync(timeout.Token) ?? throw new InvalidOperationException("the stream ended without a response");
        return (call, first);
    }

    /// <summary>Opens and ACKs: the workload is registered once its proxy has applied a config.</summary>
    private async Task RegisterAsync(Node node, string token)
    {
        var (call, first) = await OpenAsync(node, token);
        await call.RequestStream.WriteAsync(new DiscoveryRequest { VersionInfo = first.VersionInfo, ResponseNonce = first.Nonce });
    }

    /// <summary>What a client of catalog is told about catalog's endpoints, as "address:port" of each.</summary>
    private async Task<string[]> CatalogEndpointsSeenByAClientAsync(string observerId)
    {
        var observer = Node(observerId, "web", 0);
        observer.Upstreams["catalog"] = 18080;
        var (_, first) = await OpenAsync(observer, Token("web"));
        var endpoints = first.Resources.SingleOrDefault(r => r.KindCase == Resource.KindOneofCase.Endpoints && r.Endpoints.Cluster.Contains("catalog", StringComparison.Ordinal));
        return endpoints is null ? [] : endpoints.Endpoints.Endpoints.Select(e => $"{e.Address}:{e.Port}").ToArray();
    }

    private async Task<RpcException> RefusedAsync(Node node, string? token) =>
        await Assert.ThrowsAsync<RpcException>(() => OpenAsync(node, token));

    [Fact]
    public async Task Service_As_token_cannot_register_as_B_nor_elsewhere_nor_take_a_live_instances_place()
    {
        var catalog = Token("catalog");
        await RegisterAsync(Node("catalog-0", "catalog", 20001), catalog);
        await Eventually.HoldsAsync(async () => (await CatalogEndpointsSeenByAClientAsync("web-" + Guid.NewGuid().ToString("N")[..6])).SequenceEqual(["127.0.0.1:20001"]),
            Patience, () => "catalog-0 never became catalog's endpoint");

        var asB = await RefusedAsync(Node("payments-0", "payments", 20002), catalog);
        Assert.Equal(StatusCode.PermissionDenied, asB.StatusCode);
        Assert.Contains("claims service default/payments, but its token proves service account default/catalog", asB.Status.Detail);

        var elsewhere = await RefusedAsync(Node("catalog-1", "catalog", 20003, address: "10.66.0.1"), catalog);
        Assert.Equal(StatusCode.PermissionDenied, elsewhere.StatusCode);
        Assert.Contains("claims address 10.66.0.1, but its stream comes from 127.0.0.1", elsewhere.Status.Detail);

        var usurper = await RefusedAsync(Node("catalog-0", "catalog", 20066), catalog);
        Assert.Equal(StatusCode.PermissionDenied, usurper.StatusCode);
        Assert.Contains("catalog-0 is live at 127.0.0.1:20001", usurper.Status.Detail);

        var anonymous = await RefusedAsync(Node("catalog-2", "catalog", 20004), token: null);
        Assert.Equal(StatusCode.Unauthenticated, anonymous.StatusCode);

        // Catalog's clients are still told of the real instance only; the control plane counted each refusal.
        Assert.Equal(["127.0.0.1:20001"], await CatalogEndpointsSeenByAClientAsync("web-after"));
        using var http = new HttpClient { Timeout = Patience };
        var metrics = await http.GetStringAsync($"http://127.0.0.1:{_apiPort}/metrics");
        Assert.Contains("weft_control_streams_refused_total{reason=\"permission_denied\"} 3\n", metrics);
        Assert.Contains("weft_control_streams_refused_total{reason=\"unauthenticated\"} 1\n", metrics);
    }

    [Fact]
    public async Task A_proxy_started_with_another_accounts_token_is_refused_and_says_why()
    {
        await using var proxy = WeftProcess.Start(["proxy", "--service", "payments", "--instance", "payments-0", "--app-port", ShopMesh.FreePort().ToString(),
            "--inbound-port", ShopMesh.FreePort().ToString(), "--admin-port", ShopMesh.FreePort().ToString(),
            "--control", $"http://127.0.0.1:{_discoveryPort}", "--bootstrap-token-file", TokenFiles.Create(_apiPort, DataDir, "catalog")]);
        await proxy.WaitForLineAsync("PermissionDenied.*claims service default/payments", Patience);
    }

    /// <summary>A channel to the TLS port that trusts the mesh's root and checks the control plane's identity, presenting <paramref name="client"/>.</summary>
    private GrpcChannel TlsChannel(X509Certificate2? client, List<string>? seenServerIds = null)
    {
        var roots = new X509Certificate2Collection();
        roots.ImportFromPemFile(Path.Combine(DataDir, "ca", "root-cert.pem"));
        return new GrpcChannel(new Uri($"https://127.0.0.1:{_tlsPort}"), tls: new GrpcTls((_, certificate, chain, _) =>
        {
            using var leaf = new X509Certificate2(certificate!);
            var id = Weft.Model.Identity.Svid.Verify(leaf, chain!.ChainPolicy.ExtraStore.Cast<X509Certificate2>(), roots, "cluster.local", DateTimeOffset.UtcNow, out var error);
            seenServerIds?.Add(id?.ToString() ?? error);
            return id is not null;
        }, () => client));
    }

    private async Task<X509Certificate2> WorkloadCertificateAsync(string serviceAccount)
    {
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var channel = new GrpcChannel(new Uri($"http://127.0.0.1:{_discoveryPort}"));
        var issued = await channel.UnaryAsync(DiscoveryMethods.Certify,
            new CertifyRequest { CsrPem = new CertificateRequest(new X500DistinguishedName(""), key, HashAlgorithmName.SHA256).CreateSigningRequestPem() },
            new CallOptions(Deadline: DateTimeOffset.UtcNow + Patience, Headers: new Dictionary<string, string> { ["authorization"] = "Bearer " + Token(serviceAccount) }));
        using var leaf = X509Certificate2.CreateFromPem(issued.CertificatePem);
        return leaf.CopyWithPrivateKey(key);
    }

    [Fact]
    public async Task On_the_TLS_port_the_control_plane_proves_itself_and_a_workload_certificate_stands_in_for_the_token()
    {
        using var catalogCertificate = await WorkloadCertificateAsync("catalog");
        var serverIds = new List<string>();
        using var channel = TlsChannel(catalogCertificate, serverIds);
        var call = channel.DuplexStreaming(DiscoveryMethods.Stream, new CallOptions());
        _calls.Add(call);
        using var timeout = new CancellationTokenSource(Patience);
        await call.RequestStream.WriteAsync(new DiscoveryRequest { Node = Node("catalog-tls", "catalog", 20011) }, timeout.Token);
        Assert.NotNull(await call.ResponseStream.ReadAsync(timeout.Token));
        Assert.Equal("spiffe://cluster.local/ns/weft-system/sa/weft-control", Assert.Single(serverIds));

        // The certificate proves catalog, no more: as payments, with no token at all, the stream is refused.
        var asB = channel.DuplexStreaming(DiscoveryMethods.Stream, new CallOptions());
        _calls.Add(asB);
        await asB.RequestStream.WriteAsync(new DiscoveryRequest { Node = Node("payments-tls", "payments", 20012) }, timeout.Token);
        var refused = await Assert.ThrowsAsync<RpcException>(async () => await asB.ResponseStream.ReadAsync(timeout.Token));
        Assert.Equal(StatusCode.PermissionDenied, refused.StatusCode);
        Assert.Contains("proves service account default/catalog", refused.Status.Detail);
    }

    [Fact]
    public async Task On_the_TLS_port_a_certificate_from_another_CA_of_the_same_trust_domain_fails_the_handshake()
    {
        using var rogueKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var rogueRequest = new CertificateRequest("CN=rogue", rogueKey, HashAlgorithmName.SHA256);
        rogueRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        using var rogueCa = rogueRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddDays(1));
        using var leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var leafRequest = new CertificateRequest(new X500DistinguishedName(""), leafKey, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddUri(new Uri("spiffe://cluster.local/ns/default/sa/catalog"));
        leafRequest.CertificateExtensions.Add(names.Build(critical: true));
        using var forged = leafRequest.Create(rogueCa, DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddHours(1), [1, 2, 3, 4]);
        using var forgedWithKey = forged.CopyWithPrivateKey(leafKey);

        using var channel = TlsChannel(forgedWithKey);
        var call = channel.DuplexStreaming(DiscoveryMethods.Stream, new CallOptions(Headers: new Dictionary<string, string> { ["authorization"] = "Bearer " + Token("catalog") }));
        _calls.Add(call);
        using var timeout = new CancellationTokenSource(Patience);
        var failed = await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            await call.RequestStream.WriteAsync(new DiscoveryRequest { Node = Node("catalog-rogue", "catalog", 20013) }, timeout.Token);
            await call.ResponseStream.ReadAsync(timeout.Token);
        });
        Assert.False(failed is OperationCanceledException, "the call hung instead of failing: " + failed);
        // The handshake refused it, before any call reached admission (where the valid token would have passed).
        Assert.False(failed is RpcException { StatusCode: StatusCode.PermissionDenied or StatusCode.Unauthenticated }, "admission, not the handshake, refused it: " + failed);
        Assert.Matches("SSL|TLS|handshake|certificate|connection", failed.ToString());
    }

    [Fact]
    public async Task A_proxy_without_a_token_file_does_not_start()
    {
        var (code, output) = await WeftProcess.RunAsync(["proxy", "--service", "catalog", "--control", $"http://127.0.0.1:{_discoveryPort}"], Patience);
        Assert.Equal(2, code);
        Assert.Contains("--bootstrap-token-file is required", output);
        Assert.Contains("weft token create catalog -n default", output);
    }
}
