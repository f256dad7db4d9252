using System.Net;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Http;
using Weft.Proxy.Tests.Support;

namespace Weft.Proxy.Tests.Pipeline;

using Protocol = Weft.Protocol.Discovery.Protocol;

public sealed class ForwardingTests
{
    private const int Size = 20 * 1024 * 1024;

    private static byte[] Pattern(int length)
    {
        var data = new byte[length];
        new Random(42).NextBytes(data);
        return data;
    }

    [Fact]
    public async Task Http11_streams_a_20MB_upload_and_a_20MB_download()
    {
        var payload = Pattern(Size);
        await using var backend = await Backend.StartAsync("big", async ctx =>
        {
            if (ctx.Request.Method == "POST")
            {
                using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                var buffer = new byte[64 * 1024];
                long total = 0;
                int read;
                while ((read = await ctx.Request.Body.ReadAsync(buffer)) > 0)
                {
                    sha.AppendData(buffer, 0, read);
                    total += read;
                }
                await ctx.Response.WriteAsync($"{total}:{Convert.ToHexString(sha.GetHashAndReset())}");
            }
            else
            {
                // Chunked (no Content-Length), in pieces, so the proxy must stream rather than see one blob.
                for (var offset = 0; offset < payload.Length; offset += 1024 * 1024)
                    await ctx.Response.Body.WriteAsync(payload.AsMemory(offset, Math.Min(1024 * 1024, payload.Length - offset)));
            }
        });
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("big")).Cluster("big", backend.Port).Build());
        using var client = TestProxy.Client(port);

        // Upload from a stream without a known length: chunked through the proxy.
        using var upload = new StreamContent(new NonSeekableStream(payload));
        var uploaded = await client.PostAsync("/upload", upload);
        Assert.Equal(HttpStatusCode.OK, uploaded.StatusCode);
        Assert.Equal($"{Size}:{Convert.ToHexString(SHA256.HashData(payload))}", await uploaded.Content.ReadAsStringAsync());

        using var download = await client.GetAsync("/download", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, download.StatusCode);
        var received = await download.Content.ReadAsByteArrayAsync();
        Assert.Equal(Size, received.Length);
        Assert.Equal(SHA256.HashData(payload), SHA256.HashData(received));
    }

    [Fact]
    public async Task H2c_request_body_and_response_trailers_pass_through()
    {
        await using var backend = await Backend.StartAsync("grpcish", async ctx =>
        {
            Assert.Equal("HTTP/2", ctx.Request.Protocol);
            var body = await new StreamReader(ctx.Request.Body).ReadToEndAsync();
            ctx.Response.ContentType = "application/grpc";
            ctx.Response.DeclareTrailer("grpc-status");
            await ctx.Response.WriteAsync("echo:" + body);
            ctx.Response.AppendTrailer("grpc-status", "7");
            ctx.Response.AppendTrailer("x-trailer", "from-app");
        }, http2Only: true);
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port, protocol: Protocol.Grpc)
            .Routes("rt", ConfigBuilder.Route("grpcish")).Cluster("grpcish", Protocol.Grpc, (backend.Port, "v2")).Build());

        using var client = TestProxy.Client(port);
        var request = new HttpRequestMessage(HttpMethod.Post, "/shop.v1.Ratings/Get")
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new StringContent("hello"),
        };
        request.Content.Headers.ContentType = new("application/grpc");
        request.Headers.TE.ParseAdd("trailers");
        using var response = await client.SendAsync(request);
        Assert.Equal(HttpVersion.Version20, response.Version);
        Assert.Equal("echo:hello", await response.Content.ReadAsStringAsync());
        Assert.Equal("7", Assert.Single(response.TrailingHeaders.GetValues("grpc-status")));
        Assert.Equal("from-app", Assert.Single(response.TrailingHeaders.GetValues("x-trailer")));

        var metrics = await proxy.MetricsAsync();
        Assert.Contains("destination_service=\"grpcish\",destination_version=\"v2\",response_code=\"200\",grpc_status=\"7\",protocol=\"grpc\"", metrics);
    }

    [Fact]
    public async Task Http_listener_accepts_h2c_prior_knowledge_and_http11_on_the_same_port()
    {
        await using var backend = await Backend.StartAsync("both", ctx => ctx.Response.WriteAsync(ctx.Request.Protocol));
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("both")).Cluster("both", backend.Port).Build());
        using var client = TestProxy.Client(port);
        foreach (var version in new[] { HttpVersion.Version11, HttpVersion.Version20 })
        {
            using var response = await client.SendAsync(new HttpRequestMessage(HttpMethod.Get, "/")
            {
                Version = version, VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            });
            Assert.Equal(version, response.Version);
            // The backend is an HTTP cluster: the proxy speaks HTTP/1.1 to it whatever the client spoke.
            Assert.Equal("HTTP/1.1", await response.Content.ReadAsStringAsync());
        }
    }

    [Fact]
    public async Task Hop_by_hop_headers_are_dropped_and_host_is_kept()
    {
        await using var backend = await Backend.StartAsync("echo", ctx =>
        {
            ctx.Response.Headers["Keep-Alive"] = "timeout=5";
            ctx.Response.Headers["x-kept"] = "yes";
            return Backend.EchoAsync(ctx, "echo");
        });
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("echo")).Cluster("echo", backend.Port).Build());
        using var client = TestProxy.Client(port);
        var request = new HttpRequestMessage(HttpMethod.Get, "/h?q=1");
        request.Headers.Host = "catalog.example:8080";
        request.Headers.Connection.Add("x-private-hop");
        request.Headers.TryAddWithoutValidation("x-private-hop", "secret");
        request.Headers.TryAddWithoutValidation("Keep-Alive", "timeout=5");
        request.Headers.TryAddWithoutValidation("Proxy-Authorization", "Basic Zm9vOmJhcg==");
        request.Headers.TryAddWithoutValidation("x-end-to-end", "kept");
        using var response = await client.SendAsync(request);
        var echo = await response.Content.ReadAsStringAsync();

        Assert.Contains("host: catalog.example:8080\n", echo);
        Assert.Contains("path: /h?q=1\n", echo);
        Assert.Contains("x-end-to-end: kept\n", echo);
        Assert.DoesNotContain("x-private-hop", echo);
        Assert.DoesNotContain("keep-alive", echo);
        Assert.DoesNotContain("proxy-authorization", echo);
        Assert.DoesNotContain("connection: x-private-hop", echo);
        Assert.True(response.Headers.Contains("x-kept"));
        Assert.False(response.Headers.Contains("Keep-Alive"));
    }

    [Fact]
    public async Task No_endpoints_answers_503_with_reason()
    {
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("catalog")).Cluster("catalog").Build());
        using var client = TestProxy.Client(port);
        using var response = await client.GetAsync("/");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("no_endpoints", Assert.Single(response.Headers.GetValues("x-weft-reason")));
        Assert.Equal("no healthy endpoints for service default/catalog\n", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Connect_failure_on_every_endpoint_answers_503_connect_failed()
    {
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("catalog"))
            .Cluster("catalog", TestProxy.FreePort(), TestProxy.FreePort()).Build());
        using var client = TestProxy.Client(port);
        using var response = await client.GetAsync("/");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("connect_failed", Assert.Single(response.Headers.GetValues("x-weft-reason")));
        Assert.Contains("default/catalog", await response.Content.ReadAsStringAsync());

        var clusters = await proxy.Admin.GetStringAsync("/clusters");
        Assert.Contains("ConnectFailed", clusters);
    }

    [Fact]
    public async Task Connect_failure_falls_over_to_the_healthy_endpoint()
    {
        await using var backend = await Backend.StartAsync("alive");
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("catalog"))
            .Cluster("catalog", TestProxy.FreePort(), backend.Port).Build());
        using var client = TestProxy.Client(port);
        for (var i = 0; i < 6; i++)
        {
            using var response = await client.GetAsync("/");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("alive", Assert.Single(response.Headers.GetValues("x-backend")));
        }
        Assert.Equal(6, backend.Requests);
    }

    [Fact]
    public async Task Upstream_reset_before_headers_answers_503_upstream_reset()
    {
        await using var backend = await Backend.StartAsync("resets", ctx =>
        {
            ctx.Abort();
            return Task.CompletedTask;
        });
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("resets")).Cluster("resets", backend.Port).Build());
        using var client = TestProxy.Client(port);
        using var response = await client.GetAsync("/");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("upstream_reset", Assert.Single(response.Headers.GetValues("x-weft-reason")));
    }

    [Fact]
    public async Task No_route_answers_404_and_missing_backend_500()
    {
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port)
            .Routes("rt", ConfigBuilder.Route("ghost", [ConfigBuilder.Prefix("/ghost")], ("ghost", 1)))
            .Build());
        using var client = TestProxy.Client(port);
        using var none = await client.GetAsync("/elsewhere");
        Assert.Equal(HttpStatusCode.NotFound, none.StatusCode);
        Assert.Equal("no_route", Assert.Single(none.Headers.GetValues("x-weft-reason")));
        using var ghost = await client.GetAsync("/ghost/1");
        Assert.Equal(HttpStatusCode.InternalServerError, ghost.StatusCode);
        Assert.Equal("backend_not_found", Assert.Single(ghost.Headers.GetValues("x-weft-reason")));
    }

    private sealed class NonSeekableStream(byte[] data) : Stream
    {
        private int _position;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = Math.Min(Math.Min(count, 256 * 1024), data.Length - _position);
            Array.Copy(data, _position, buffer, offset, n);
            _position += n;
            return n;
        }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
