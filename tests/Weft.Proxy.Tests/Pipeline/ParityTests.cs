using System.Net;
using System.Net.Http.Headers;
using System.Reflection;
using System.Text;
using Microsoft.AspNetCore.Http;
using Weft.Protocol.Discovery;
using Weft.Proxy.Tests.Codecs.Http1;
using Weft.Proxy.Tests.Support;
using Xunit.Sdk;

namespace Weft.Proxy.Tests.Pipeline;

using Protocol = Weft.Protocol.Discovery.Protocol;

/// <summary>
/// The same behaviour through every codec that feeds the one pipeline: the lean HTTP/1.1 codec,
/// Kestrel's HTTP/1.1, h2c, gRPC and the capture listener (transparent mode, root only). ./test.sh
/// runs these over both transports. A behaviour that differs between two codecs is a second copy of a
/// decision somewhere: this suite is where it shows.
/// </summary>
public sealed class ParityTests
{
    [Theory, UserCodecs, CaptureCodec]
    public async Task Routes_match_on_path_header_and_method(ParityCodec codec)
    {
        await using var mesh = await ParityMesh.StartAsync(codec);
        Assert.Equal("a", (await mesh.SendAsync("/a/x")).Backend);
        Assert.Equal("b", (await mesh.SendAsync("/hdr", headers: [("x-canary", "yes")])).Backend);
        Assert.Equal("a", (await mesh.SendAsync("/hdr")).Backend);
        Assert.Equal("b", (await mesh.SendAsync("/method", method: "POST")).Backend);
        var none = await mesh.SendAsync("/nowhere");
        Assert.Equal(404, none.Status);
        Assert.Equal("no_route", none.Reason);
    }

    [Theory, UserCodecs, CaptureCodec]
    public async Task A_weighted_split_holds_within_3_percent_over_10000_requests(ParityCodec codec)
    {
        await using var mesh = await ParityMesh.StartAsync(codec);
        const int total = 10_000;
        var counts = new Dictionary<string, int>();
        // HTTP/1.1 clients: one request per connection, the case where a pick rolled twice showed (75/25).
        await Parallel.ForEachAsync(Enumerable.Range(0, total), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (_, _) =>
        {
            var response = await mesh.SendAsync("/split", newConnection: true);
            Assert.True(response.Status == 200, $"{response.Status} {response.Reason}: {response.Body}");
            lock (counts)
                counts[response.Backend!] = counts.GetValueOrDefault(response.Backend!) + 1;
        });
        Assert.Equal(2, counts.Count);
        foreach (var (backend, count) in counts)
            Assert.True(Math.Abs(count - total / 2) <= total * 3 / 100, $"{backend}: {count} of {total} (split {string.Join(", ", counts)})");
    }

    [Theory, UserCodecs, CaptureCodec]
    public async Task Header_modifiers_edit_the_request_and_the_response(ParityCodec codec)
    {
        await using var mesh = await ParityMesh.StartAsync(codec);
        var response = await mesh.SendAsync("/mod", headers: [("x-add", "first"), ("x-remove", "gone")]);
        Assert.Equal(200, response.Status);
        Assert.Contains("x-set: set\n", response.Body);
        Assert.Matches("x-add: first(,\\s?|\n.*x-add: )added", response.Body);
        Assert.DoesNotContain("x-remove", response.Body);
        Assert.Equal("modified", response.Header("x-resp"));
        Assert.Null(response.Header("x-backend"));
    }

    [Theory, UserCodecs, CaptureCodec]
    public async Task The_proxy_answers_failures_itself_with_their_reasons(ParityCodec codec)
    {
        await using var mesh = await ParityMesh.StartAsync(codec);
        await AssertReasonAsync(mesh, "/none", 503, "no_endpoints");
        await AssertReasonAsync(mesh, "/refused", 503, "connect_failed");
        await AssertReasonAsync(mesh, "/reset", 503, "upstream_reset");
        await AssertReasonAsync(mesh, "/missing", 500, "backend_not_found");
        await AssertReasonAsync(mesh, "/nowhere", 404, "no_route");
    }

    private static async Task AssertReasonAsync(ParityMesh mesh, string path, int status, string reason)
    {
        var response = await mesh.SendAsync(path);
        Assert.Equal(status, response.Status);
        Assert.Equal(reason, response.Reason);
    }

    [Theory, UserCodecs, CaptureCodec]
    public async Task Hop_by_hop_headers_cross_in_neither_direction(ParityCodec codec)
    {
        await using var mesh = await ParityMesh.StartAsync(codec);
        var response = await mesh.SendHopByHopAsync("/hop");
        Assert.Equal(200, response.Status);
        Assert.Contains("backend: a\n", response.Body);
        foreach (var name in new[] { "x-private:", "keep-alive:", "proxy-authorization:", "proxy-connection:", "upgrade:" })
            Assert.False(response.Body.Contains("\n" + name, StringComparison.Ordinal), name + " reached the app:\n" + response.Body);
        // HTTP/1.1 apps may name fields in Connection; an HTTP/2 app (gRPC here) cannot, so its fields are its own.
        if (codec != ParityCodec.Grpc)
            Assert.Null(response.Header("x-resp-private"));
        Assert.Null(response.Header("keep-alive"));
        // TE: trailers crosses only to an HTTP/2 upstream (gRPC needs it end to end).
        if (codec == ParityCodec.Grpc)
            Assert.Contains("\nte: trailers\n", response.Body);
        else
            Assert.DoesNotContain("\nte:", response.Body);
    }

    [Theory, UserCodecs, CaptureCodec]
    public async Task The_source_identity_is_ours_outbound_and_no_header_claim_inbound(ParityCodec codec)
    {
        await using var mesh = await ParityMesh.StartAsync(codec);
        // Outbound: whatever the app claims is replaced by this proxy's identity, exactly one value.
        var outbound = await mesh.SendAsync("/a/who", headers: [("x-weft-source", "evil;v0;elsewhere")]);
        Assert.Contains("\nx-weft-source: frontend;v7;default\n", outbound.Body);
        Assert.DoesNotContain("evil", outbound.Body);
        if (codec == ParityCodec.Capture)
            return;                                 // the capture listener is outbound only; inbound is a plain listener

        // Inbound without mTLS: a claim is no identity (the source is unknown) and the header never reaches the app.
        var one = await mesh.SendAsync("/a/in", inbound: true, headers: [("x-weft-source", "caller;v9;default")]);
        Assert.DoesNotContain("x-weft-source", one.Body);
        var two = await mesh.SendAsync("/a/in2", inbound: true, headers: [("x-weft-source", "caller;v9;default"), ("x-weft-source", "other;v1;default")]);
        Assert.DoesNotContain("x-weft-source", two.Body);
        var metrics = await mesh.Proxy.MetricsAsync();
        Assert.Contains("direction=\"inbound\",source_service=\"unknown\",source_version=\"unknown\"", metrics);
        Assert.DoesNotContain("source_service=\"caller\"", metrics);
        Assert.DoesNotContain("source_service=\"other\"", metrics);
    }

    [Theory, UserCodecs, CaptureCodec]
    public async Task Every_codec_labels_its_requests_the_same_way(ParityCodec codec)
    {
        await using var mesh = await ParityMesh.StartAsync(codec);
        for (var i = 0; i < 3; i++)
            Assert.Equal(200, (await mesh.SendAsync("/a/count")).Status);
        var protocol = codec switch { ParityCodec.H2c => "http2", ParityCodec.Grpc => "grpc", _ => "http" };
        var grpcStatus = codec == ParityCodec.Grpc ? "0" : "";
        var series = "weft_requests_total{direction=\"outbound\",source_service=\"frontend\",source_version=\"v7\",destination_service=\"a\"," +
            $"destination_version=\"v1\",response_code=\"200\",grpc_status=\"{grpcStatus}\",protocol=\"{protocol}\",mtls=\"false\"}}";
        var scrape = await mesh.Proxy.MetricsAsync();
        Assert.True(TestProxy.MetricValue(scrape, series) == 3, series + " in\n" + string.Join('\n', scrape.Split('\n').Where(l => l.StartsWith("weft_requests_total", StringComparison.Ordinal))));
        await mesh.SendAsync("/none");
        Assert.Contains("destination_service=\"none\",destination_version=\"unknown\",response_code=\"503\"", await mesh.Proxy.MetricsAsync());
    }

    [Theory, UserCodecs, CaptureCodec]
    public async Task A_drain_lets_the_request_in_flight_finish_and_takes_no_new_one(ParityCodec codec)
    {
        await using var mesh = await ParityMesh.StartAsync(codec);
        var inFlight = mesh.SendAsync("/slow");
        await Eventually.TrueAsync(() => Task.FromResult(mesh.SlowInside), "the request inside the app");
        var stopping = mesh.Proxy.Host.StopAsync(TimeSpan.FromSeconds(10));
        await Eventually.TrueAsync(() => Task.FromResult(mesh.Proxy.Host.IsDraining), "draining");
        mesh.ReleaseSlow();
        var response = await inFlight;
        Assert.Equal(200, response.Status);
        Assert.Contains("backend: slow", response.Body);
        if (codec is ParityCodec.LeanHttp1 or ParityCodec.KestrelHttp1 or ParityCodec.Capture)
            Assert.Equal("close", response.Header("connection"));
        await stopping;
        await Assert.ThrowsAnyAsync<Exception>(() => mesh.SendAsync("/a/after", newConnection: true));
    }

    [Theory, UserCodecs, CaptureCodec]
    public async Task CONNECT_is_refused_with_405_connect_unsupported_and_an_http1_connection_then_closes(ParityCodec codec)
    {
        await using var mesh = await ParityMesh.StartAsync(codec);
        if (codec is ParityCodec.H2c or ParityCodec.Grpc)
        {
            // An HTTP/2 CONNECT: :method and :authority only, its stream left open for the tunnel it asks for.
            await using var h2 = await RawH2Client.ConnectAsync(mesh.Entry.Port);
            var block = new List<byte>();
            RawH2Client.Literal(block, ":method", "CONNECT");
            RawH2Client.Literal(block, ":authority", "example.com:443");
            await h2.SendAsync(RawH2Client.Frame(RawH2Client.Headers, RawH2Client.EndHeaders, 1, block.ToArray()));
            await Eventually.TrueAsync(() => Task.FromResult(h2.Ended(1) || h2.ResetOf(1) is not null || h2.Closed), "the answer to CONNECT");
            Assert.Equal(405, h2.StatusOf(1));
            // A literal field, as Kestrel writes it (no Huffman): the name, then the value's length and the value.
            Assert.Contains("x-weft-reason\u0013connect_unsupported", h2.HeaderBlockOf(1));
            Assert.Contains("CONNECT is not supported", h2.BodyOf(1));
            Assert.Equal(0, mesh.RequestsReachingApps);
            return;
        }
        await using var client = await RawClient.ConnectAsync(mesh.Entry);
        await client.SendAsync("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
        var (text, closed) = await client.ReadToEndAsync(TimeSpan.FromSeconds(10));
        Assert.StartsWith("HTTP/1.1 405 ", text);
        Assert.Contains("\r\nx-weft-reason: connect_unsupported\r\n", text);
        Assert.True(closed, "the connection stayed open after the 405:\n" + text);
        Assert.Equal(0, mesh.RequestsReachingApps);
    }

    [Theory, UserCodecs, CaptureCodec]
    public async Task The_proxys_own_answer_to_HEAD_carries_its_length_and_no_body(ParityCodec codec)
    {
        await using var mesh = await ParityMesh.StartAsync(codec);
        if (codec is ParityCodec.H2c or ParityCodec.Grpc)
        {
            using var client = TestProxy.Client(mesh.Entry.Port);
            client.DefaultRequestVersion = HttpVersion.Version20;
            client.DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact;
            foreach (var (path, status, reason) in new[] { ("/nowhere", 404, "no_route"), ("/none", 503, "no_endpoints") })
            {
                using var response = await client.SendAsync(new HttpRequestMessage(HttpMethod.Head, path));
                Assert.Equal(status, (int)response.StatusCode);
                Assert.Equal(reason, response.Headers.GetValues("x-weft-reason").Single());
                Assert.True(response.Content.Headers.ContentLength > 0, "no Content-Length on the answer to HEAD " + path);
            }
            // On the wire: the stream ends with no DATA.
            await using var h2 = await RawH2Client.ConnectAsync(mesh.Entry.Port);
            var block = new List<byte>();
            RawH2Client.Literal(block, ":method", "HEAD");
            RawH2Client.Literal(block, ":scheme", "http");
            RawH2Client.Literal(block, ":path", "/nowhere");
            RawH2Client.Literal(block, ":authority", "test");
            await h2.SendAsync(RawH2Client.Frame(RawH2Client.Headers, RawH2Client.EndHeaders | RawH2Client.EndStream, 1, block.ToArray()));
            await Eventually.TrueAsync(() => Task.FromResult(h2.Ended(1) || h2.ResetOf(1) is not null || h2.Closed), "the answer to HEAD");
            Assert.Equal(404, h2.StatusOf(1));
            Assert.True(h2.Ended(1), "the stream did not end");
            Assert.Equal("", h2.BodyOf(1));
            return;
        }
        // HTTP/1.1: the answer's body would be read as the start of the next response on the connection.
        await using var raw = await RawClient.ConnectAsync(mesh.Entry);
        foreach (var (path, status, reason) in new[] { ("/nowhere", 404, "no_route"), ("/none", 503, "no_endpoints") })
        {
            await raw.SendAsync($"HEAD {path} HTTP/1.1\r\nHost: a\r\n\r\n");
            var head = await raw.ReadUntilAsync("\r\n\r\n");
            Assert.StartsWith($"HTTP/1.1 {status} ", head);
            Assert.Contains($"\r\nx-weft-reason: {reason}\r\n", head);
            Assert.Matches("\r\nContent-Length: [1-9][0-9]*\r\n", head);
            Assert.EndsWith("\r\n\r\n", head);
            await raw.SendAsync("GET /a/next HTTP/1.1\r\nHost: a\r\n\r\n");
            var next = await raw.ReadResponseAsync();
            Assert.StartsWith("HTTP/1.1 200 ", next);
            Assert.Contains("backend: a\n", next);
        }
    }
}

/// <summary>The codecs a request can arrive on.</summary>
public enum ParityCodec { LeanHttp1, KestrelHttp1, H2c, Grpc, Capture }

/// <summary>Every codec that runs anywhere.</summary>
public sealed class UserCodecsAttribute : DataAttribute
{
    public override IEnumerable<object[]> GetData(MethodInfo testMethod) =>
        [[ParityCodec.LeanHttp1], [ParityCodec.KestrelHttp1], [ParityCodec.H2c], [ParityCodec.Grpc]];
}

/// <summary>The capture listener: needs root and iptables (nat REDIRECT to reach it), skipped with the reason otherwise.</summary>
public sealed class CaptureCodecAttribute : DataAttribute
{
    public CaptureCodecAttribute()
    {
        if (CaptureRedirect.Unavailable() is { } reason)
            Skip = reason;
    }

    public override IEnumerable<object[]> GetData(MethodInfo testMethod) => [[ParityCodec.Capture]];
}

/// <summary>What came back, whatever the protocol.</summary>
public sealed record ParityResponse(int Status, IReadOnlyDictionary<string, string> Headers, string Body, string? GrpcStatus)
{
    public string? Header(string name) => Headers.TryGetValue(name, out var value) ? value : null;
    public string? Reason => Header("x-weft-reason");
    public string? Backend => Body.StartsWith("backend: ", StringComparison.Ordinal) ? Body[9..Body.IndexOf('\n')] : null;
}

/// <summary>
/// Backends, a proxy and a client for one codec. Routes (the same for every codec):
/// /a/... to a; /hdr to b with x-canary: yes, else a; POST /method to b; /split 50/50 between a and a
/// second protocol (an HTTP/2 cluster beside an HTTP/1.1 one; gRPC: two gRPC clusters); /mod with
/// header modifiers; /none (no endpoints), /refused (nothing listens), /reset (the app resets),
/// /missing (no such cluster), /slow (held until released); anything else has no route.
/// </summary>
internal sealed class ParityMesh : IAsyncDisposable
{
    private static int s_vips;
    private readonly List<IAsyncDisposable> _owned = [];
    private readonly List<Backend> _backends = [];
    private readonly TaskCompletionSource _releaseSlow = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private ParityCodec _codec;
    private int _outbound, _inbound;
    private CaptureRedirect? _redirect;
    private HttpClient _client = null!, _fresh = null!;
    private volatile bool _slowInside;

    public TestProxy Proxy { get; private set; } = null!;
    public bool SlowInside => _slowInside;

    /// <summary>Where an app's connection goes: the outbound listener, or the address the capture listener intercepts.</summary>
    public IPEndPoint Entry => _redirect is { } redirect
        ? new IPEndPoint(IPAddress.Parse(redirect.Address), redirect.Port)
        : new IPEndPoint(IPAddress.Loopback, _outbound);

    /// <summary>Requests that reached any of the mesh's apps so far.</summary>
    public int RequestsReachingApps => _backends.Sum(b => b.Requests);

    public void ReleaseSlow() => _releaseSlow.TrySetResult();

    public static async Task<ParityMesh> StartAsync(ParityCodec codec)
    {
        var mesh = new ParityMesh { _codec = codec };
        var grpc = codec == ParityCodec.Grpc;
        var a = await mesh.BackendAsync("a", grpc);
        var b = await mesh.BackendAsync("b", grpc);
        var second = await mesh.BackendAsync("h2", grpc, http2: true);
        var reset = await mesh.BackendAsync("reset", grpc, handler: ctx =>
        {
            ctx.Abort();
            return Task.CompletedTask;
        });
        var slow = await mesh.BackendAsync("slow", grpc, handler: async ctx =>
        {
            mesh._slowInside = true;
            await mesh._releaseSlow.Task.WaitAsync(TimeSpan.FromSeconds(20));
        });
        var clusterProtocol = grpc ? Protocol.Grpc : Protocol.Http;
        var refused = TestProxy.FreePort();

        mesh.Proxy = await TestProxy.StartAsync(options: new ProxyHostOptions
        {
            LeanHttp1 = codec != ParityCodec.KestrelHttp1,
            ListenerDrainTimeout = TimeSpan.FromSeconds(10),
        });
        mesh._owned.Add(mesh.Proxy);
        mesh._outbound = TestProxy.FreePort();
        mesh._inbound = TestProxy.FreePort();
        var mod = ConfigBuilder.Route("mod", [ConfigBuilder.Prefix("/mod")], ("a", 1));
        mod.RequestHeaderModifiers.Add(new HeaderModifier { Op = HeaderModifier.Types.Op.Set, Name = "x-set", Value = "set" });
        mod.RequestHeaderModifiers.Add(new HeaderModifier { Op = HeaderModifier.Types.Op.Add, Name = "x-add", Value = "added" });
        mod.RequestHeaderModifiers.Add(new HeaderModifier { Op = HeaderModifier.Types.Op.Remove, Name = "x-remove" });
        mod.ResponseHeaderModifiers.Add(new HeaderModifier { Op = HeaderModifier.Types.Op.Set, Name = "x-resp", Value = "modified" });
        mod.ResponseHeaderModifiers.Add(new HeaderModifier { Op = HeaderModifier.Types.Op.Remove, Name = "x-backend" });
        var canary = ConfigBuilder.Prefix("/hdr");
        canary.Headers.Add(new HeaderMatch { Name = "x-canary", Value = "yes" });
        var post = ConfigBuilder.Prefix("/method");
        post.Method = "POST";
        var config = new ConfigBuilder()
            .Listener(mesh._outbound)
            .Listener(mesh._inbound, direction: Direction.Inbound, service: "frontend")
            .Routes("rt",
                ConfigBuilder.Route("a", [ConfigBuilder.Prefix("/a"), ConfigBuilder.Prefix("/hop")], ("a", 1)),
                ConfigBuilder.Route("canary", [canary], ("b", 1)),
                ConfigBuilder.Route("hdr", [ConfigBuilder.Prefix("/hdr")], ("a", 1)),
                ConfigBuilder.Route("post", [post], ("b", 1)),
                ConfigBuilder.Route("split", [ConfigBuilder.Prefix("/split")], ("a", 1), (grpc ? "b" : "h2", 1)),
                mod,
                ConfigBuilder.Route("none", [ConfigBuilder.Prefix("/none")], ("none", 1)),
                ConfigBuilder.Route("refused", [ConfigBuilder.Prefix("/refused")], ("refused", 1)),
                ConfigBuilder.Route("reset", [ConfigBuilder.Prefix("/reset")], ("reset", 1)),
                ConfigBuilder.Route("missing", [ConfigBuilder.Prefix("/missing")], ("nonexistent", 1)),
                ConfigBuilder.Route("slow", [ConfigBuilder.Prefix("/slow")], ("slow", 1)))
            .Cluster("a", clusterProtocol, (a.Port, "v1"))
            .Cluster("b", clusterProtocol, (b.Port, "v1"))
            .Cluster("h2", grpc ? Protocol.Grpc : Protocol.Http2, (second.Port, "v1"))
            .Cluster("none", clusterProtocol)
            .Cluster("refused", clusterProtocol, (refused, "v1"))
            .Cluster("reset", clusterProtocol, (reset.Port, "v1"))
            .Cluster("slow", clusterProtocol, (slow.Port, "v1"));
        string target;
        if (codec == ParityCodec.Capture)
        {
            var capture = TestProxy.FreePort();
            var n = Interlocked.Increment(ref s_vips);
            var vip = $"10.253.{(n >> 8) & 0xff}.{n & 0xff}";
            var listener = new Listener { Address = "127.0.0.1", Port = (uint)capture, Direction = Direction.Outbound, Capture = true,
                UnknownDestination = UnknownDestination.Reject };
            listener.OriginalDestinations.Add(new OriginalDestination { Address = vip, Port = 80, Protocol = Protocol.Http, RouteTable = "rt", Service = "a" });
            config.Add(new Resource { Name = "capture/outbound", Listener = listener });
            mesh._redirect = CaptureRedirect.Add(vip, 80, capture);
            target = $"http://{vip}:80";
        }
        else
        {
            target = $"http://127.0.0.1:{mesh._outbound}";
        }
        await mesh.Proxy.ApplyOkAsync(config.Build());
        mesh._client = mesh.Client(target);
        mesh._fresh = mesh.Client(target);
        return mesh;
    }

    private HttpClient Client(string target)
    {
        var client = new HttpClient(new SocketsHttpHandler { UseProxy = false, AllowAutoRedirect = false }) { BaseAddress = new Uri(target) };
        if (_codec is ParityCodec.H2c or ParityCodec.Grpc)
        {
            client.DefaultRequestVersion = HttpVersion.Version20;
            client.DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact;
        }
        return client;
    }

    private async Task<Backend> BackendAsync(string name, bool grpc, bool http2 = false, Func<HttpContext, Task>? handler = null)
    {
        var backend = await Backend.StartAsync(name, async ctx =>
        {
            if (ctx.Request.Path.StartsWithSegments("/hop"))
            {
                ctx.Response.Headers["X-Resp-Private"] = "secret";
                if (!grpc)
                {
                    ctx.Response.Headers["Connection"] = "X-Resp-Private";
                    ctx.Response.Headers["Keep-Alive"] = "timeout=5";
                }
            }
            if (handler is not null)
                await handler(ctx);
            if (ctx.RequestAborted.IsCancellationRequested)
                return;
            if (grpc)
                await GrpcEchoAsync(ctx, name);
            else
                await Backend.EchoAsync(ctx, name);
        }, http2Only: grpc || http2);
        _owned.Add(backend);
        _backends.Add(backend);
        return backend;
    }

    /// <summary>The echo as a gRPC answer: one length-prefixed message, then grpc-status 0 in the trailers.</summary>
    private static async Task GrpcEchoAsync(HttpContext ctx, string name)
    {
        await ctx.Request.Body.CopyToAsync(Stream.Null);
        var sb = new StringBuilder().Append("backend: ").Append(name).Append('\n');
        foreach (var (key, value) in ctx.Request.Headers)
            sb.Append(key.ToLowerInvariant()).Append(": ").Append(value.ToString()).Append('\n');
        var message = Encoding.UTF8.GetBytes(sb.ToString());
        ctx.Response.ContentType = "application/grpc";
        var frame = new byte[5 + message.Length];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(frame.AsSpan(1), message.Length);
        message.CopyTo(frame, 5);
        await ctx.Response.Body.WriteAsync(frame);
        ctx.Response.AppendTrailer("grpc-status", "0");
    }

    public async Task<ParityResponse> SendAsync(string path, string method = "GET", (string Name, string Value)[]? headers = null,
        bool newConnection = false, bool inbound = false)
    {
        var client = inbound ? Client($"http://127.0.0.1:{_inbound}") : newConnection ? _fresh : _client;
        try
        {
            using var request = new HttpRequestMessage(new HttpMethod(method), path)
            {
                Version = client.DefaultRequestVersion,
                VersionPolicy = client.DefaultVersionPolicy,
            };
            if (newConnection && _codec is ParityCodec.LeanHttp1 or ParityCodec.KestrelHttp1 or ParityCodec.Capture)
                request.Headers.ConnectionClose = true;
            foreach (var (name, value) in headers ?? [])
                request.Headers.TryAddWithoutValidation(name, value);
            if (_codec == ParityCodec.Grpc)
            {
                request.Method = HttpMethod.Post;
                request.Content = new ByteArrayContent([0, 0, 0, 0, 0]);
                request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
                request.Headers.TryAddWithoutValidation("te", "trailers");
            }
            using var response = await client.SendAsync(request);
            var body = await response.Content.ReadAsByteArrayAsync();
            var all = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            foreach (var (name, values) in response.Headers.Concat(response.Content.Headers))
                all[name] = string.Join(", ", values);
            string? grpcStatus = null;
            if (response.TrailingHeaders.TryGetValues("grpc-status", out var status))
                grpcStatus = status.First();
            var text = _codec == ParityCodec.Grpc && body.Length >= 5 && response.Content.Headers.ContentType?.MediaType == "application/grpc"
                ? Encoding.UTF8.GetString(body, 5, body.Length - 5)
                : Encoding.UTF8.GetString(body);
            return new ParityResponse((int)response.StatusCode, all, text, grpcStatus);
        }
        finally
        {
            if (inbound)
                client.Dispose();
        }
    }

    /// <summary>A request carrying hop-by-hop fields (and one a Connection header names): as raw bytes where the protocol allows them.</summary>
    public async Task<ParityResponse> SendHopByHopAsync(string path)
    {
        if (_codec is ParityCodec.H2c or ParityCodec.Grpc)
        {
            // HTTP/2 forbids connection-specific fields; the hop-by-hop ones it allows must still stop here.
            return await SendAsync(path, headers: [("proxy-authorization", "Basic x"), ("x-private", "kept in h2")]) is var r
                ? r with { Body = r.Body.Replace("x-private: kept in h2\n", "", StringComparison.Ordinal) }
                : throw new InvalidOperationException();
        }
        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream,
            System.Net.Sockets.ProtocolType.Tcp);
        await socket.ConnectAsync(Entry);
        // Connection names X-Private only (Kestrel keeps the header as sent unless it carries "close").
        await socket.SendAsync(Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: a\r\nConnection: X-Private\r\nX-Private: secret\r\n" +
            "Keep-Alive: timeout=5\r\nProxy-Authorization: Basic x\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\n\r\n"));
        var received = new StringBuilder();
        var buffer = new byte[16 * 1024];
        int split;
        while ((split = received.ToString().IndexOf("\r\n\r\n", StringComparison.Ordinal)) < 0)
            received.Append(Encoding.ASCII.GetString(buffer, 0, await Receive(socket, buffer)));
        var text = received.ToString();
        var lines = text[..split].Split("\r\n");
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in lines.Skip(1))
            headers[line[..line.IndexOf(':')]] = line[(line.IndexOf(':') + 1)..].Trim();
        var chunked = headers.TryGetValue("transfer-encoding", out var te) && te == "chunked";
        var length = headers.TryGetValue("content-length", out var cl) ? int.Parse(cl, System.Globalization.CultureInfo.InvariantCulture) : -1;
        while (chunked ? !received.ToString().EndsWith("\r\n0\r\n\r\n", StringComparison.Ordinal) : received.Length - split - 4 < length)
            received.Append(Encoding.ASCII.GetString(buffer, 0, await Receive(socket, buffer)));
        var body = received.ToString()[(split + 4)..];
        if (chunked)
            body = ChunkedBody.Decode(body);
        return new ParityResponse(int.Parse(lines[0].Substring(9, 3), System.Globalization.CultureInfo.InvariantCulture), headers, body, null);
    }

    private static async Task<int> Receive(System.Net.Sockets.Socket socket, byte[] buffer)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var n = await socket.ReceiveAsync(buffer, System.Net.Sockets.SocketFlags.None, deadline.Token);
        return n > 0 ? n : throw new IOException("the proxy closed the connection before the whole response");
    }

    public async ValueTask DisposeAsync()
    {
        ReleaseSlow();
        _client?.Dispose();
        _fresh?.Dispose();
        _redirect?.Dispose();
        foreach (var owned in Enumerable.Reverse(_owned))
            await owned.DisposeAsync();
    }
}

/// <summary>
/// An iptables nat REDIRECT of one unused address's port to a capture listener, as transparent mode
/// has it, so a test reaches the capture listener the way an app would (SO_ORIGINAL_DST included).
/// Root only; removed on dispose.
/// </summary>
internal sealed class CaptureRedirect : IDisposable
{
    private readonly string[] _rule;

    private CaptureRedirect(string address, int port, string[] rule)
    {
        Address = address;
        Port = port;
        _rule = rule;
    }

    public string Address { get; }
    public int Port { get; }

    public static string? Unavailable()
    {
        if (!OperatingSystem.IsLinux() || Environment.UserName != "root")
            return "the capture listener needs root (an iptables nat REDIRECT reaches it)";
        return Tool("iptables") is null || Tool("ip") is null ? "the capture listener needs iptables and iproute2 (./test.sh installs them as root)" : null;
    }

    public static CaptureRedirect Add(string address, int port, int capturePort)
    {
        // The address is routed to loopback so a connect starts at all; the rule sends it to the listener.
        Run("ip", "route", "replace", address + "/32", "dev", "lo");
        string[] rule = ["-t", "nat", "OUTPUT", "-d", address, "-p", "tcp", "--dport", port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "-j", "REDIRECT", "--to-ports", capturePort.ToString(System.Globalization.CultureInfo.InvariantCulture)];
        Run("iptables", ["-w", "-t", "nat", "-A", .. rule[2..]]);
        return new CaptureRedirect(address, port, rule);
    }

    public void Dispose()
    {
        Run("iptables", ["-w", "-t", "nat", "-D", .. _rule[2..]]);
        Run("ip", "route", "del", Address + "/32", "dev", "lo");
    }

    private static string? Tool(string name) =>
        new[] { "/usr/sbin/", "/sbin/", "/usr/bin/", "/bin/" }.Select(d => d + name).FirstOrDefault(File.Exists);

    private static void Run(string tool, params string[] args)
    {
        var info = new System.Diagnostics.ProcessStartInfo(Tool(tool) ?? tool) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var arg in args)
            info.ArgumentList.Add(arg);
        using var process = System.Diagnostics.Process.Start(info)!;
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{tool} {string.Join(' ', args)}: {error}");
    }
}
