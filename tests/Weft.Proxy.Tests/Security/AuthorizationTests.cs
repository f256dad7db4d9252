using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Text;
using Weft.Protocol.Discovery;
using Weft.Proxy.Tests.Support;

namespace Weft.Proxy.Tests.Security;

using Protocol = Weft.Protocol.Discovery.Protocol;

/// <summary>
/// AuthorizationPolicies at a workload's inbound port (docs/security.md, "Authorization"): the
/// server sidecar of `catalog` runs them on every request (the pipeline's step 2, whatever the codec)
/// and on every TCP connection as it opens. Callers prove who they are with real mTLS handshakes:
/// a sidecar of their own, or a handshake made by hand with a mesh certificate of any service account.
/// </summary>
public sealed class AuthorizationTests
{
    private const string Web = "cluster.local/ns/default/sa/web";

    // --- Policies as the control plane sends them.
    private static AuthorizationPolicy Policy(string name, AuthorizationAction action, params AuthorizationRule[] rules)
    {
        var policy = new AuthorizationPolicy { Name = "default/" + name, Action = action };
        policy.Rules.AddRange(rules);
        return policy;
    }

    private static AuthorizationRule Rule(AuthorizationSource? from = null, AuthorizationOperation? to = null, params AuthorizationHeader[] when)
    {
        var rule = new AuthorizationRule();
        if (from is not null) rule.Sources.Add(from);
        if (to is not null) rule.Operations.Add(to);
        rule.Headers.AddRange(when);
        return rule;
    }

    private static AuthorizationSource Principals(params StringMatch[] principals)
    {
        var source = new AuthorizationSource();
        source.Principals.AddRange(principals);
        return source;
    }

    private static AuthorizationOperation Paths(params StringMatch[] paths)
    {
        var operation = new AuthorizationOperation();
        operation.Paths.AddRange(paths);
        return operation;
    }

    private static StringMatch Exact(string value) => new() { Kind = StringMatch.Types.Kind.Exact, Value = value };
    private static StringMatch Prefix(string value) => new() { Kind = StringMatch.Types.Kind.Prefix, Value = value };
    private static StringMatch Suffix(string value) => new() { Kind = StringMatch.Types.Kind.Suffix, Value = value };
    private static StringMatch Any() => new() { Kind = StringMatch.Types.Kind.Present };

    /// <summary>The server side: catalog's app and its sidecar, whose inbound port carries the policies.</summary>
    private sealed class Server : IAsyncDisposable
    {
        public required Backend App { get; init; }
        public required TestProxy Proxy { get; init; }
        public int Inbound { get; init; }

        public static async Task<Server> StartAsync(Protocol protocol, params AuthorizationPolicy[] policies) =>
            await StartAsync(protocol, leanHttp1: true, policies);

        public static async Task<Server> StartAsync(Protocol protocol, bool leanHttp1, params AuthorizationPolicy[] policies) =>
            await StartAsync(protocol, leanHttp1, leanHttp2: true, policies);

        /// <param name="leanHttp1">Weft's HTTP/1.1 codec; false: Kestrel's.</param>
        /// <param name="leanHttp2">Weft's HTTP/2 codec; false: Kestrel's.</param>
        public static async Task<Server> StartAsync(Protocol protocol, bool leanHttp1, bool leanHttp2, params AuthorizationPolicy[] policies)
        {
            var app = await Backend.StartAsync("catalog", http2Only: protocol is Protocol.Http2 or Protocol.Grpc);
            var proxy = await TestProxy.StartAsync(new ProxyIdentity("catalog", "v2", "default", Role.Sidecar),
                new ProxyHostOptions { LeanHttp1 = leanHttp1, LeanHttp2 = leanHttp2, ListenerDrainTimeout = TimeSpan.FromSeconds(10) });
            var inbound = TestProxy.FreePort();
            var config = new ConfigBuilder()
                .Listener(inbound, "in", Direction.Inbound, protocol, service: "catalog")
                .Routes("in", ConfigBuilder.Route("app")).Cluster("app", protocol, (app.Port, "v2"));
            await proxy.ApplyOkAsync(WithPolicies(config, inbound, app.Port, policies).Build());
            return new Server { App = app, Proxy = proxy, Inbound = inbound };
        }

        public async ValueTask DisposeAsync()
        {
            await Proxy.DisposeAsync();
            await App.DisposeAsync();
        }
    }

    private static ConfigBuilder WithPolicies(ConfigBuilder config, int inbound, int appPort, AuthorizationPolicy[] policies)
    {
        var listener = config.Get($"127.0.0.1_{inbound}").Listener;
        listener.AuthorizationPolicies.AddRange(policies);
        listener.DestinationPort = (uint)appPort;
        return config;
    }

    // ---------------------------------------------------------------------------------------------
    // The bypass list: a DENY on /admin and /admin/* holds for every spelling of those paths, on
    // every codec; whatever reaches the app is exactly the normalized path that was authorized.

    public static TheoryData<string, string, string?> Bypasses()
    {
        // null: refused (403 denied, or 400 bad_path), and the app sees nothing. Else: the target the app must get.
        (string Path, string? Target)[] variants =
        [
            ("/admin", null), ("//admin", null), ("/./admin", null), ("/public/../admin", null), ("/public/%2e%2e/admin", null),
            ("/public/%2E%2E/admin", null), ("/%61dmin", null), ("/admin;x", null), ("/admin;x/users", null), ("\\admin", null),
            ("/admin/", null), ("/admin//users", null), ("/public/..;/admin", null), ("/public/..%2Fadmin", null),
            ("/admin#x", null), ("/admin#/../x", null), ("http://catalog//admin", null), ("HTTP://catalog/./admin?x=1", null),
            ("/ADMIN", "/ADMIN"), ("/administrator", "/administrator"), ("/public/admin", "/public/admin"),
            // An encoded ';' is no parameter (Spring strips parameters before it decodes; Node keeps ';'): the app gets it as authorized.
            ("/admin%3bx", "/admin%3Bx"),
        ];
        var data = new TheoryData<string, string, string?>();
        foreach (var codec in new[] { "lean HTTP/1.1", "Kestrel HTTP/1.1", "h2c", "gRPC", "Kestrel h2c", "Kestrel gRPC" })
            foreach (var (path, target) in variants)
                data.Add(codec, path, target);
        return data;
    }

    [Theory]
    [MemberData(nameof(Bypasses))]
    public async Task No_spelling_of_a_denied_path_reaches_the_app_and_what_does_is_the_path_authorized(string codec, string path, string? target)
    {
        var protocol = codec switch { "h2c" or "Kestrel h2c" => Protocol.Http2, "gRPC" or "Kestrel gRPC" => Protocol.Grpc, _ => Protocol.Http };
        await using var server = await Server.StartAsync(protocol, leanHttp1: codec != "Kestrel HTTP/1.1", leanHttp2: !codec.StartsWith("Kestrel h2c", StringComparison.Ordinal) && codec != "Kestrel gRPC",
            Policy("no-admin", AuthorizationAction.AuthzDeny, Rule(to: Paths(Exact("/admin"), Prefix("/admin/")))));

        var (status, body) = await SendAsync(codec, server.Inbound, path);

        if (target is null)
        {
            // 0: the stream was reset (Kestrel's HTTP/2 refuses a :path that is not origin-form that way).
            Assert.True(status is 403 or 400 || (status == 0 && codec.StartsWith("Kestrel", StringComparison.Ordinal)), $"{codec} {path}: {status} {body}");
            if (status == 403)
                Assert.Equal("access denied by AuthorizationPolicy default/no-admin\n", body);
            Assert.Equal(0, server.App.Requests);
        }
        else
        {
            Assert.Equal(200, status);
            Assert.Contains($"\ntarget: {target}\n", body);
        }
    }

    /// <summary>The path exactly as given: raw bytes on HTTP/1.1, a raw :path on h2c, and for gRPC a POST of application/grpc with one empty message.</summary>
    private static async Task<(int Status, string Body)> SendAsync(string codec, int port, string path)
    {
        if (codec is "h2c" or "gRPC" or "Kestrel h2c" or "Kestrel gRPC")
        {
            await using var h2 = await RawH2Client.ConnectAsync(port);
            if (codec.EndsWith("h2c", StringComparison.Ordinal))
                return await h2.GetAsync(path);
            var head = RawH2Client.FieldBlock((":method", "POST"), (":scheme", "http"), (":path", path), (":authority", "catalog"),
                ("content-type", "application/grpc"), ("te", "trailers"));
            await h2.SendAsync(RawH2Client.Concat(
                RawH2Client.Frame(RawH2Client.Headers, RawH2Client.EndHeaders, 1, head),
                RawH2Client.Frame(RawH2Client.Data, RawH2Client.EndStream, 1, new byte[5])));
            await Eventually.TrueAsync(() => Task.FromResult(h2.Ended(1) || h2.ResetOf(1) is not null || h2.Closed), "the answer to " + path);
            return (h2.StatusOf(1) ?? 0, h2.BodyOf(1));
        }
        var (status, _, text) = await Http1Async(port, $"GET {path} HTTP/1.1\r\nHost: catalog\r\nConnection: close\r\n\r\n");
        return (status, text);
    }

    // ---------------------------------------------------------------------------------------------
    // Identity: who is asking is the verified certificate.

    [Theory]
    [InlineData(Protocol.Http, true)]
    [InlineData(Protocol.Http2, true)]
    [InlineData(Protocol.Http, false)]
    [InlineData(Protocol.Http2, false)]
    public async Task An_ALLOW_policy_lets_in_only_the_principals_it_names_and_denies_plaintext(Protocol protocol, bool lean)
    {
        await using var server = await Server.StartAsync(protocol, leanHttp1: lean, leanHttp2: lean,
            Policy("web-only", AuthorizationAction.AuthzAllow, Rule(from: Principals(Exact(Web)))));
        await using var web = await ClientSidecarAsync("web", server, protocol);
        await using var frontend = await ClientSidecarAsync("frontend", server, protocol);

        Assert.Equal(HttpStatusCode.OK, (await GetAsync(web.Port, protocol, "/items")).Status);
        var (status, body, reason) = await GetAsync(frontend.Port, protocol, "/items");
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Equal("denied", reason);
        Assert.Equal("access denied: no ALLOW AuthorizationPolicy of this workload matches the request\n", body);
        // An app dialing the inbound port itself (PERMISSIVE) has no principal at all.
        Assert.Equal(HttpStatusCode.Forbidden, (await GetAsync(server.Inbound, protocol, "/items")).Status);

        Assert.Equal(1, server.App.Requests);
        var kind = protocol == Protocol.Http2 ? "http2" : "http";
        Assert.Equal(2, await server.Proxy.MetricAsync($"weft_authorization_denied_total{{reason=\"no_allow_match\",policy=\"\",protocol=\"{kind}\"}}"));
    }

    /// <summary>On every codec, Kestrel's included: a DENY by principal refuses the principal's mTLS requests.</summary>
    [Theory]
    [InlineData(Protocol.Http, true)]
    [InlineData(Protocol.Http2, true)]
    [InlineData(Protocol.Http, false)]
    [InlineData(Protocol.Http2, false)]
    public async Task A_DENY_by_principal_refuses_that_principal_on_every_codec(Protocol protocol, bool lean)
    {
        await using var server = await Server.StartAsync(protocol, leanHttp1: lean, leanHttp2: lean,
            Policy("no-web", AuthorizationAction.AuthzDeny, Rule(from: Principals(Exact(Web)))));
        await using var web = await ClientSidecarAsync("web", server, protocol);
        await using var frontend = await ClientSidecarAsync("frontend", server, protocol);

        Assert.Equal(HttpStatusCode.Forbidden, (await GetAsync(web.Port, protocol, "/items")).Status);
        Assert.Equal(HttpStatusCode.OK, (await GetAsync(frontend.Port, protocol, "/items")).Status);
        Assert.Equal(1, server.App.Requests);
    }

    [Fact]
    public async Task A_standard_method_in_lower_case_is_refused_so_it_cannot_pass_a_rule_on_the_method()
    {
        var delete = new AuthorizationOperation();
        delete.Methods.Add("DELETE");
        await using var server = await Server.StartAsync(Protocol.Http, Policy("no-delete", AuthorizationAction.AuthzDeny, Rule(to: delete)));

        Assert.Equal(403, (await Http1Async(server.Inbound, "DELETE /items HTTP/1.1\r\nHost: catalog\r\nConnection: close\r\n\r\n")).Status);
        var (status, reason, _) = await Http1Async(server.Inbound, "delete /items HTTP/1.1\r\nHost: catalog\r\nConnection: close\r\n\r\n");
        Assert.Equal(400, status);
        Assert.Equal("bad_method", reason);
        Assert.Equal(200, (await Http1Async(server.Inbound, "GET /items HTTP/1.1\r\nHost: catalog\r\nConnection: close\r\n\r\n")).Status);
        Assert.Equal(1, server.App.Requests);
    }

    /// <summary>Where a header's whole value and its comma-separated elements disagree, the reading that refuses wins.</summary>
    [Fact]
    public async Task Repeated_and_listed_header_values_cannot_slip_past_a_header_rule()
    {
        var notAcme = new AuthorizationHeader { Name = "x-tenant" };
        notAcme.NotValues.Add(Exact("acme"));
        var debug = new AuthorizationHeader { Name = "x-debug" };
        debug.Values.Add(Any());
        var reader = new AuthorizationHeader { Name = "x-role" };
        reader.Values.Add(Exact("reader"));
        await using var server = await Server.StartAsync(Protocol.Http,
            Policy("acme-only", AuthorizationAction.AuthzDeny, Rule(when: notAcme)),
            Policy("no-debug", AuthorizationAction.AuthzDeny, Rule(when: debug)),
            Policy("readers", AuthorizationAction.AuthzAllow, Rule(when: reader)));

        async Task<int> Status(string headers) =>
            (await Http1Async(server.Inbound, $"GET /items HTTP/1.1\r\nHost: catalog\r\n{headers}Connection: close\r\n\r\n")).Status;

        Assert.Equal(200, await Status("x-tenant: acme\r\nx-role: reader\r\n"));
        Assert.Equal(403, await Status("x-tenant: evil\r\nx-role: reader\r\n"));
        Assert.Equal(403, await Status("x-tenant: evil\r\nx-tenant: acme\r\nx-role: reader\r\n"));   // two lines
        Assert.Equal(403, await Status("x-tenant: evil, acme\r\nx-role: reader\r\n"));                 // one list
        Assert.Equal(403, await Status("x-tenant: acme\r\nx-role: reader\r\nx-role: admin\r\n"));    // ALLOW: the whole must match
        Assert.Equal(403, await Status("x-tenant: acme\r\nx-role: reader\r\nx-debug:\r\n"));         // "*": present, even empty
        Assert.Equal(1, server.App.Requests);
    }

    [Fact]
    public async Task DENY_beats_ALLOW_and_its_403_names_the_policy()
    {
        await using var server = await Server.StartAsync(Protocol.Http,
            Policy("allow-all", AuthorizationAction.AuthzAllow, new AuthorizationRule()),
            Policy("web-no-admin", AuthorizationAction.AuthzDeny, Rule(from: Principals(Suffix("/sa/web")), to: Paths(Prefix("/admin/")))));

        var (status, reason, body) = await MtlsHttp1Async(server.Inbound, "web", "GET /admin/users HTTP/1.1\r\nHost: catalog\r\nConnection: close\r\n\r\n");
        Assert.Equal(403, status);
        Assert.Equal("denied", reason);
        Assert.EndsWith("access denied by AuthorizationPolicy default/web-no-admin\n", body);
        Assert.Equal(200, (await MtlsHttp1Async(server.Inbound, "web", "GET /users HTTP/1.1\r\nHost: catalog\r\nConnection: close\r\n\r\n")).Status);
        Assert.Equal(200, (await MtlsHttp1Async(server.Inbound, "frontend", "GET /admin/users HTTP/1.1\r\nHost: catalog\r\nConnection: close\r\n\r\n")).Status);
        Assert.Equal(1, await server.Proxy.MetricAsync("weft_authorization_denied_total{reason=\"deny_policy\",policy=\"default/web-no-admin\",protocol=\"http\"}"));
    }

    [Fact]
    public async Task Rules_match_namespaces_methods_paths_ports_and_headers_as_Istio_does()
    {
        var read = new AuthorizationOperation();
        read.Methods.Add("GET");
        read.Paths.Add(Prefix("/api/"));
        read.NotPaths.Add(Exact("/api/secret"));
        read.Ports.Add(1);                                  // replaced by the app's port below
        var fromDefault = new AuthorizationSource();
        fromDefault.Namespaces.Add(Exact("default"));
        fromDefault.NotPrincipals.Add(Suffix("/sa/banned"));
        var notAdmin = new AuthorizationHeader { Name = "x-role" };
        notAdmin.Values.Add(Any());
        var admin = new AuthorizationHeader { Name = "x-role" };
        admin.Values.Add(Exact("admin"));
        var allow = Policy("readers", AuthorizationAction.AuthzAllow, Rule(from: fromDefault, to: read, notAdmin));
        var deny = Policy("no-admins", AuthorizationAction.AuthzDeny, Rule(when: admin));
        await using var server = await Server.StartAsync(Protocol.Http, allow, deny);
        read.Ports[0] = (uint)server.App.Port;
        await server.Proxy.ApplyOkAsync(WithPolicies(new ConfigBuilder()
            .Listener(server.Inbound, "in", Direction.Inbound, Protocol.Http, service: "catalog")
            .Routes("in", ConfigBuilder.Route("app")).Cluster("app", Protocol.Http, (server.App.Port, "v2")), server.Inbound, server.App.Port, [allow, deny]).Build(2));

        async Task<int> Status(string serviceAccount, string method, string path, string role, string ns = "default") =>
            (await MtlsHttp1Async(server.Inbound, serviceAccount, $"{method} {path} HTTP/1.1\r\nHost: catalog\r\nx-role: {role}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", ns)).Status;

        Assert.Equal(200, await Status("web", "GET", "/api/items", "reader"));
        Assert.Equal(403, await Status("web", "POST", "/api/items", "reader"));          // method
        Assert.Equal(403, await Status("web", "GET", "/api/secret", "reader"));          // notPaths
        Assert.Equal(403, await Status("web", "GET", "/other", "reader"));               // paths
        Assert.Equal(403, await Status("web", "GET", "/api/items", "reader", ns: "ops")); // namespaces
        Assert.Equal(403, await Status("banned", "GET", "/api/items", "reader"));        // notPrincipals
        Assert.Equal(403, await Status("web", "GET", "/api/items", "admin"));            // DENY on the header
        // A list value cannot hide one element from a DENY: "reader, admin" holds "admin".
        Assert.Equal(403, await Status("web", "GET", "/api/items", "reader, admin"));
        Assert.Equal(200, await Status("web", "GET", "/api/items", "administrator"));

        // The port is the app's: a rule naming another port does not match.
        read.Ports[0] = (uint)server.App.Port + 1;
        await server.Proxy.ApplyOkAsync(WithPolicies(new ConfigBuilder()
            .Listener(server.Inbound, "in", Direction.Inbound, Protocol.Http, service: "catalog")
            .Routes("in", ConfigBuilder.Route("app")).Cluster("app", Protocol.Http, (server.App.Port, "v2")), server.Inbound, server.App.Port, [allow, deny]).Build(3));
        Assert.Equal(403, await Status("web", "GET", "/api/items", "reader"));
    }

    [Fact]
    public async Task An_AUDIT_policy_counts_what_it_matches_and_decides_nothing()
    {
        await using var server = await Server.StartAsync(Protocol.Http,
            Policy("watch-admin", AuthorizationAction.AuthzAudit, Rule(to: Paths(Prefix("/admin")))));

        Assert.Equal(200, (await SendAsync("lean HTTP/1.1", server.Inbound, "/admin/x")).Status);
        Assert.Equal(200, (await SendAsync("lean HTTP/1.1", server.Inbound, "/other")).Status);
        Assert.Equal(1, await server.Proxy.MetricAsync("weft_authorization_audited_total{policy=\"default/watch-admin\"}"));
    }

    // ---------------------------------------------------------------------------------------------
    // TCP: authorized as the connection opens, from the peer identity alone.

    [Fact]
    public async Task A_TCP_port_lets_in_only_the_principals_an_ALLOW_policy_names()
    {
        await using var app = Listeners.RawServer.Echo();
        var proxy = await TestProxy.StartAsync(new ProxyIdentity("catalog", "v2", "default", Role.Sidecar));
        await using var _ = proxy;
        var inbound = TestProxy.FreePort();
        await proxy.ApplyOkAsync(WithPolicies(new ConfigBuilder()
            .Listener(inbound, "default/app", Direction.Inbound, Protocol.Tcp, service: "catalog")
            .Cluster("app", Protocol.Tcp, (app.Port, "v2")), inbound, app.Port,
            [Policy("web-only", AuthorizationAction.AuthzAllow, Rule(from: Principals(Exact(Web))))]).Build());

        Assert.Equal("ping", await TunnelEchoAsync(inbound, "web", "ping"));
        Assert.Equal("", await TunnelEchoAsync(inbound, "frontend", "ping"));
        Assert.Equal("", await PlaintextEchoAsync(inbound, "ping"));
        Assert.Equal(1, app.Accepted);
        Assert.Equal(2, await proxy.MetricAsync("weft_authorization_denied_total{reason=\"no_allow_match\",policy=\"\",protocol=\"tcp\"}"));
    }

    [Fact]
    public async Task Over_TCP_a_rule_on_HTTP_fields_never_allows_and_always_denies()
    {
        await using var app = Listeners.RawServer.Echo();
        var proxy = await TestProxy.StartAsync(new ProxyIdentity("catalog", "v2", "default", Role.Sidecar));
        await using var _ = proxy;
        var inbound = TestProxy.FreePort();
        var config = new ConfigBuilder()
            .Listener(inbound, "default/app", Direction.Inbound, Protocol.Tcp, service: "catalog")
            .Cluster("app", Protocol.Tcp, (app.Port, "v2"));

        // ALLOW naming a path: a connection has none, so nothing is allowed.
        await proxy.ApplyOkAsync(WithPolicies(config, inbound, app.Port,
            [Policy("paths", AuthorizationAction.AuthzAllow, Rule(from: Principals(Exact(Web)), to: Paths(Prefix("/"))))]).Build());
        Assert.Equal("", await TunnelEchoAsync(inbound, "web", "ping"));

        // DENY naming a path: it applies to the connection as if the path matched (fail closed).
        config.Get($"127.0.0.1_{inbound}").Listener.AuthorizationPolicies.Clear();
        await proxy.ApplyOkAsync(WithPolicies(config, inbound, app.Port,
            [Policy("no-admin", AuthorizationAction.AuthzDeny, Rule(from: Principals(Exact(Web)), to: Paths(Prefix("/admin"))))]).Build(2));
        Assert.Equal("", await TunnelEchoAsync(inbound, "web", "ping"));
        Assert.Equal("ping", await TunnelEchoAsync(inbound, "frontend", "ping"));
        Assert.Equal(1, app.Accepted);
    }

    [Fact]
    public async Task A_malformed_policy_is_refused_with_its_place_and_the_config_before_it_stays()
    {
        await using var server = await Server.StartAsync(Protocol.Http);
        var bad = Policy("bad", AuthorizationAction.AuthzDeny, Rule(to: Paths(Exact(""))));
        var error = await server.Proxy.ApplyAsync(WithPolicies(new ConfigBuilder()
            .Listener(server.Inbound, "in", Direction.Inbound, Protocol.Http, service: "catalog")
            .Routes("in", ConfigBuilder.Route("app")).Cluster("app", Protocol.Http, (server.App.Port, "v2")), server.Inbound, server.App.Port, [bad]).Build(2));
        Assert.NotNull(error);
        Assert.Contains("authorization_policies[0].rules[0].operations[0].paths[0]: empty value", error);
        Assert.Equal(200, (await SendAsync("lean HTTP/1.1", server.Inbound, "/admin")).Status);
    }

    // ---------------------------------------------------------------------------------------------

    /// <summary>A client sidecar of <paramref name="service"/> whose outbound port leads to the server over mTLS.</summary>
    private static async Task<ClientSidecar> ClientSidecarAsync(string service, Server server, Protocol protocol)
    {
        var proxy = await TestProxy.StartAsync(new ProxyIdentity(service, "v1", "default", Role.Sidecar));
        var outbound = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder()
            .Listener(outbound, "rt", Direction.Outbound, protocol, service: "catalog")
            .Routes("rt", ConfigBuilder.Route("catalog")).Cluster("catalog", protocol, (server.Inbound, "v2")).Mtls("catalog").Build());
        return new ClientSidecar(proxy, outbound);
    }

    private sealed record ClientSidecar(TestProxy Proxy, int Port) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => Proxy.DisposeAsync();
    }

    private static async Task<(HttpStatusCode Status, string Body, string? Reason)> GetAsync(int port, Protocol protocol, string path)
    {
        using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(20) };
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{port}{path}");
        if (protocol == Protocol.Http2)
        {
            request.Version = HttpVersion.Version20;
            request.VersionPolicy = HttpVersionPolicy.RequestVersionExact;
        }
        using var response = await http.SendAsync(request);
        var reason = response.Headers.TryGetValues("x-weft-reason", out var values) ? values.Single() : null;
        return (response.StatusCode, await response.Content.ReadAsStringAsync(), reason);
    }

    /// <summary>Raw HTTP/1.1 over plaintext: status, x-weft-reason, and the (de-chunked) body.</summary>
    private static async Task<(int Status, string? Reason, string Body)> Http1Async(int port, string request)
    {
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, port);
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request));
        return Parse(await ReadAllAsync(stream));
    }

    /// <summary>A sidecar's handshake made by hand (weft-http/1.1, a mesh certificate of ns/<paramref name="ns"/>/sa/<paramref name="serviceAccount"/>), then raw HTTP/1.1.</summary>
    private static async Task<(int Status, string? Reason, string Body)> MtlsHttp1Async(int port, string serviceAccount, string request, string ns = "default")
    {
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, port);
        await using var tls = await HandshakeAsync(tcp, serviceAccount, ns, "weft-http/1.1");
        await tls.WriteAsync(Encoding.ASCII.GetBytes(request));
        return Parse(await ReadAllAsync(tls));
    }

    /// <summary>A weft-tcp tunnel as <paramref name="serviceAccount"/>: what the echo app sent back ("" when the connection was refused).</summary>
    private static async Task<string> TunnelEchoAsync(int port, string serviceAccount, string message)
    {
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, port);
        SslStream tls;
        try
        {
            tls = await HandshakeAsync(tcp, serviceAccount, "default", "weft-tcp");
        }
        catch (IOException)
        {
            return "";
        }
        await using (tls)
            return await EchoAsync(tls, message);
    }

    private static async Task<string> PlaintextEchoAsync(int port, string message)
    {
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, port);
        return await EchoAsync(tcp.GetStream(), message);
    }

    /// <summary>Writes the message and reads until it came back whole or the connection ended.</summary>
    private static async Task<string> EchoAsync(Stream stream, string message)
    {
        var received = new StringBuilder();
        var buffer = new byte[256];
        try
        {
            await stream.WriteAsync(Encoding.ASCII.GetBytes(message));
            while (received.Length < message.Length)
            {
                var n = await stream.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(20));
                if (n == 0)
                    break;
                received.Append(Encoding.ASCII.GetString(buffer, 0, n));
            }
        }
        catch (IOException)
        {
            // reset: refused
        }
        return received.ToString();
    }

    private static async Task<SslStream> HandshakeAsync(System.Net.Sockets.TcpClient tcp, string serviceAccount, string ns, string alpn)
    {
        var own = TestCertificates.Mesh.Issue(serviceAccount, ns);
        var tls = new SslStream(tcp.GetStream());
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "catalog.default",
            ClientCertificateContext = SslStreamCertificateContext.Create(own.Leaf, own.Chain, offline: true),
            ApplicationProtocols = [new SslApplicationProtocol(alpn)],
            EnabledSslProtocols = System.Security.Authentication.SslProtocols.Tls13,
            RemoteCertificateValidationCallback = (_, _, _, _) => true,
        });
        return tls;
    }

    private static async Task<string> ReadAllAsync(Stream stream)
    {
        using var answer = new MemoryStream();
        try
        {
            await stream.CopyToAsync(answer).WaitAsync(TimeSpan.FromSeconds(20));
        }
        catch (IOException)
        {
            // reset: what arrived before it is the answer
        }
        return Encoding.ASCII.GetString(answer.ToArray());
    }

    private static (int Status, string? Reason, string Body) Parse(string text)
    {
        var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        Assert.True(end > 0, "no response head in: " + text);
        var head = text[..end];
        var status = int.Parse(head.AsSpan(9, 3), CultureInfo.InvariantCulture);
        var reason = head.Split("\r\n").FirstOrDefault(l => l.StartsWith("x-weft-reason: ", StringComparison.OrdinalIgnoreCase))?[15..];
        var body = text[(end + 4)..];
        if (head.Contains("Transfer-Encoding: chunked", StringComparison.OrdinalIgnoreCase))
            body = ChunkedBody.Decode(body);
        return (status, reason, body);
    }
}
