using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;
using Weft.Integration.Harness;
using Xunit.Abstractions;

namespace Weft.Integration.DataPlane;

/// <summary>
/// AuthorizationPolicies applied as YAML to a real control plane, enforced by real sidecars between a
/// client and its servers (docs/security.md, "Authorization"): the bypass list over HTTP/1.1, h2c and
/// @grpc/grpc-js, each spelling refused or reaching the app as exactly the path authorized; and an
/// ALLOW by principal, which the client sidecar's certificate satisfies and a plaintext dial does not.
/// </summary>
public sealed class AuthorizationPolicyTests(ITestOutputHelper log) : IAsyncLifetime
{
    private const string Policies = """
        apiVersion: weft.dev/v1
        kind: AuthorizationPolicy
        metadata: { name: no-admin }
        spec:
          targetRef: { kind: Mesh }
          action: DENY
          rules:
          - to:
            - operation: { paths: ["/admin", "/admin/*", "/shop.v1.Echo/Unary"] }
        ---
        apiVersion: weft.dev/v1
        kind: AuthorizationPolicy
        metadata: { name: web-callers }
        spec:
          targetRef: { kind: Service, name: web }
          rules:
          - from:
            - source: { principals: ["cluster.local/ns/default/sa/client"] }
        """;

    /// <summary>Spellings of /admin; null: refused (403 or 400) and never seen by the app, else the target the app gets.</summary>
    private static readonly (string Path, string? Target)[] Variants =
    [
        ("/admin", null), ("//admin", null), ("/./admin", null), ("/public/../admin", null), ("/public/%2e%2e/admin", null),
        ("/admin;x", null), ("\\admin", null), ("/admin/./users", null), ("/admin#x", null), ("/ADMIN", "/ADMIN"), ("/public", "/public"),
    ];

    private PathEcho _app = null!;
    private WeftProcess? _grpcServer;
    private string? _grpcMissing;
    private TwoSidecars _mesh = null!;

    public async Task InitializeAsync()
    {
        _app = await PathEcho.StartAsync();
        List<ServerApp> apps = [new("web", _app.Http1Port, "http"), new("open", _app.Http1Port, "http"), new("h2web", _app.Http2Port, "http2")];
        _grpcMissing = Peers.GrpcMissing();
        if (_grpcMissing is null)
        {
            _grpcServer = Peers.StartNodeApp("server.js");
            apps.Add(new("echo", await Peers.PortAsync(_grpcServer, "listening"), "grpc"));
        }
        _mesh = await TwoSidecars.StartAsync(apps, config: Policies);
    }

    public async Task DisposeAsync()
    {
        await _mesh.DisposeAsync();
        if (_grpcServer is not null)
            await _grpcServer.DisposeAsync();
        await _app.DisposeAsync();
    }

    /// <summary>Through the client's sidecar (which normalizes first), and straight to a server sidecar's inbound port (PERMISSIVE), so its own check is what decides.</summary>
    [Theory]
    [InlineData("through the client sidecar")]
    [InlineData("straight to the inbound port")]
    public async Task Over_HTTP_1_1_no_spelling_of_a_denied_path_reaches_the_app(string way)
    {
        var port = way == "through the client sidecar" ? _mesh.OutboundPort("web") : _mesh.Server("open").InboundPort;
        foreach (var (path, target) in Variants)
        {
            var before = _app.Requests;
            await using var client = await RawHttp1.ConnectAsync(port);
            await client.SendAsync($"GET {path} HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n");
            var response = await client.ReadResponseAsync(TimeSpan.FromSeconds(10));
            log.WriteLine($"{path}: {response.Status} {response.Text.Trim()}");
            if (target is null)
            {
                Assert.True(response.Status is 403 or 400, $"{path}: {response.Status} {response.Text}");
                Assert.Equal(before, _app.Requests);
            }
            else
            {
                Assert.Equal(200, response.Status);
                Assert.Equal($"target: {target}\n", response.Text);
            }
        }
        var server = _mesh.Server(way == "through the client sidecar" ? "web" : "open");
        Assert.Matches(@"weft_authorization_denied_total\{reason=""deny_policy"",policy=""default/no-admin"",protocol=""http""\} [1-9]",
            await _mesh.MetricsAsync(server));
        // The sidecar's log says who was refused what and why, once (the rest within the minute are counted only).
        var logged = System.Text.RegularExpressions.Regex.Matches(server.Process.Output, "Denied http GET /admin[^ ]* from .* AuthorizationPolicy default/no-admin");
        Assert.Single(logged);
    }

    [Theory]
    [InlineData("through the client sidecar")]
    [InlineData("straight to the inbound port")]
    public async Task Over_h2c_no_spelling_of_a_denied_path_reaches_the_app(string way)
    {
        var port = way == "through the client sidecar" ? _mesh.OutboundPort("h2web") : _mesh.Server("h2web").InboundPort;
        foreach (var (path, target) in Variants)
        {
            var before = _app.Requests;
            await using var h2 = await RawHttp2.GetAsync(port, path);
            var outcome = await h2.ReadUntilStreamEndsAsync(TimeSpan.FromSeconds(10));
            log.WriteLine($"{path}: {outcome}");
            if (target is null)
            {
                Assert.False(outcome.Status200, $"{path}: {outcome}");
                Assert.Equal(before, _app.Requests);
            }
            else
            {
                Assert.True(outcome.Status200, $"{path}: {outcome}");
                Assert.Equal($"target: {target}\n", outcome.Body);
            }
        }
    }

    [Fact]
    public async Task Over_grpc_js_no_spelling_of_a_denied_method_reaches_the_app()
    {
        if (_grpcMissing is not null)
        {
            log.WriteLine("SKIPPED: " + _grpcMissing);
            return;
        }
        const string Unary = "/shop.v1.Echo/Unary";
        string[] denied = [Unary, "/" + Unary, "/." + Unary, "/x/.." + Unary, "/x/%2e%2e" + Unary, Unary + ";x", "\\" + Unary[1..]];
        const string OtherCase = "/SHOP.v1.Echo/Unary";
        var run = await Peers.RunAsync("node", ["client.js", "paths", $"127.0.0.1:{_mesh.OutboundPort("echo")}", .. denied, OtherCase, "/shop.v1.Echo/Unary/"],
            TimeSpan.FromSeconds(30));
        log.WriteLine(run.Output);
        Assert.True(run.ScenarioPassed, run.Output);
        var calls = run.Result.GetProperty("calls").EnumerateArray()
            .ToDictionary(c => c.GetProperty("path").GetString()!, c => (Code: c.GetProperty("code").GetInt32(), Details: c.GetProperty("details").GetString()));

        foreach (var path in denied)
        {
            // PERMISSION_DENIED (the 403), or INTERNAL for a path the client sidecar refused as malformed (400).
            var (code, details) = calls[path];
            Assert.True(code is 7 or 13, $"{path}: {code} {details}");
        }
        Assert.Equal(7, calls[Unary].Code);
        // Not the denied method: the app gets exactly this path, and has no such method.
        foreach (var path in new[] { OtherCase, "/shop.v1.Echo/Unary/" })
        {
            Assert.Equal(12, calls[path].Code);
            Assert.Contains(path, calls[path].Details);
        }
        Assert.Matches(@"weft_authorization_denied_total\{reason=""deny_policy"",policy=""default/no-admin"",protocol=""grpc""\} [1-9]",
            await _mesh.MetricsAsync(_mesh.Server("echo")));
    }

    [Fact]
    public async Task An_ALLOW_by_principal_admits_the_client_sidecars_certificate_and_refuses_a_plaintext_dial()
    {
        using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(10) };
        using (var viaSidecar = await http.GetAsync(_mesh.Outbound("web", "/items")))
            Assert.Equal(HttpStatusCode.OK, viaSidecar.StatusCode);

        // An app dialing web's inbound port itself (PERMISSIVE: accepted as plaintext) has no principal.
        var before = _app.Requests;
        using var direct = await http.GetAsync($"http://127.0.0.1:{_mesh.Server("web").InboundPort}/items");
        Assert.Equal(HttpStatusCode.Forbidden, direct.StatusCode);
        Assert.Equal("denied", direct.Headers.GetValues("x-weft-reason").Single());
        Assert.Equal("access denied: no ALLOW AuthorizationPolicy of this workload matches the request\n", await direct.Content.ReadAsStringAsync());
        Assert.Equal(before, _app.Requests);

        // open has no ALLOW policy: the same dial gets through there.
        using var other = await http.GetAsync($"http://127.0.0.1:{_mesh.Server("open").InboundPort}/items");
        Assert.Equal(HttpStatusCode.OK, other.StatusCode);
    }

    /// <summary>An app that answers every request with the target it received, on an HTTP/1.1 port and an h2c port.</summary>
    private sealed class PathEcho : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private int _requests;

        private PathEcho(WebApplication app) => _app = app;

        public int Http1Port { get; private set; }
        public int Http2Port { get; private set; }
        public int Requests => Volatile.Read(ref _requests);

        public static async Task<PathEcho> StartAsync()
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.ConfigureKestrel(k =>
            {
                k.Listen(IPAddress.Loopback, 0, o => o.Protocols = HttpProtocols.Http1);
                k.Listen(IPAddress.Loopback, 0, o => o.Protocols = HttpProtocols.Http2);
            });
            var app = builder.Build();
            var self = new PathEcho(app);
            app.Run(context =>
            {
                Interlocked.Increment(ref self._requests);
                context.Response.ContentType = "text/plain";
                var target = context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestFeature>()!.RawTarget;
                return context.Response.WriteAsync("target: " + target + "\n");
            });
            await app.StartAsync();
            var ports = app.Urls.Select(u => new Uri(u).Port).ToArray();
            self.Http1Port = ports[0];
            self.Http2Port = ports[1];
            return self;
        }

        public async ValueTask DisposeAsync()
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await _app.StopAsync(cts.Token);
            await _app.DisposeAsync();
        }
    }
}
