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
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "weft-admission-" + Guid.NewGuid().ToString("N")[..8]);
    private readonly List<IAsyncDisposable> _calls = [];
    private GrpcChannel? _channel;
    private WeftProcess? _control;

    private string DataDir => Path.Combine(_dir, "data");

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_dir);
        _control = WeftProcess.Start(["control", "--data-dir", DataDir, "--api-port", _apiPort.ToString(), "--discovery-port", _discoveryPort.ToString()]);
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

    [Fact]
    public async Task A_proxy_without_a_token_file_does_not_start()
    {
        var (code, output) = await WeftProcess.RunAsync(["proxy", "--service", "catalog", "--control", $"http://127.0.0.1:{_discoveryPort}"], Patience);
        Assert.Equal(2, code);
        Assert.Contains("--bootstrap-token-file is required", output);
        Assert.Contains("weft token create catalog -n default", output);
    }
}
