using System.Net;
using System.Text;
using System.Threading.Channels;
using Microsoft.AspNetCore.Http;
using Weft.Proxy.Tests.Support;

namespace Weft.Proxy.Tests.Codecs.Kestrel;

using Protocol = Weft.Protocol.Discovery.Protocol;

public sealed class StreamingTests
{
    [Fact]
    public async Task H2c_bidirectional_stream_flows_message_by_message()
    {
        // Like a gRPC bidi call: each message must cross the proxy before the next one is sent.
        await using var backend = await Backend.StartAsync("echo-stream", async ctx =>
        {
            ctx.Response.ContentType = "application/grpc";
            await ctx.Response.StartAsync();
            await ctx.Response.Body.FlushAsync();
            var reader = new StreamReader(ctx.Request.Body, Encoding.UTF8);
            string? line;
            while ((line = await reader.ReadLineAsync()) is not null)
            {
                await ctx.Response.WriteAsync("echo:" + line + "\n");
                await ctx.Response.Body.FlushAsync();
            }
            ctx.Response.AppendTrailer("grpc-status", "0");
        }, http2Only: true);
        var (proxy, port) = await GrpcProxyAsync("stream", backend);
        await using var _ = proxy;

        using var client = TestProxy.Client(port);
        var messages = Channel.CreateUnbounded<string>();
        var request = StreamRequest("/svc/Chat", messages.Reader);
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead).WaitAsync(TimeSpan.FromSeconds(10));
        var replies = new StreamReader(await response.Content.ReadAsStreamAsync());
        for (var i = 0; i < 3; i++)
        {
            await messages.Writer.WriteAsync($"m{i}");
            Assert.Equal($"echo:m{i}", await replies.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10)));
        }
        messages.Writer.Complete();
        Assert.Null(await replies.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal("0", Assert.Single(response.TrailingHeaders.GetValues("grpc-status")));
    }

    [Fact]
    public async Task A_request_whose_body_waits_for_the_response_head_reaches_the_app_on_a_warm_upstream_connection()
    {
        // The app answers as soon as the request head arrives; the client sends its body only after
        // the response head. The proxy must send the request head upstream before any body byte
        // exists, also when nothing else (a SETTINGS ack of a new connection) flushes it.
        await using var backend = await Backend.StartAsync("duplex", async ctx =>
        {
            ctx.Response.ContentType = "application/grpc";
            await ctx.Response.StartAsync();
            await ctx.Response.Body.FlushAsync();
            using var reader = new StreamReader(ctx.Request.Body, Encoding.UTF8);
            await ctx.Response.WriteAsync("got:" + await reader.ReadToEndAsync());
        }, http2Only: true);
        var (proxy, port) = await GrpcProxyAsync("duplex", backend);
        await using var _ = proxy;

        using var client = TestProxy.Client(port);
        for (var call = 0; call < 3; call++)
        {
            var messages = Channel.CreateUnbounded<string>();
            var request = StreamRequest("/svc/Duplex", messages.Reader);
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead).WaitAsync(TimeSpan.FromSeconds(5));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            await messages.Writer.WriteAsync($"call {call}");
            messages.Writer.Complete();
            Assert.Equal($"got:call {call}\n", await response.Content.ReadAsStringAsync().WaitAsync(TimeSpan.FromSeconds(5)));
        }
    }

    [Fact]
    public async Task An_app_that_answers_without_reading_the_request_body_has_its_answer_forwarded()
    {
        // A gRPC server refusing a client stream up front (trailers-only), an upload rejected early:
        // the app's whole answer comes while the client is still sending. The client gets that answer,
        // not the proxy's own error, over the same h2 upstream connection each time.
        await using var backend = await Backend.StartAsync("refuse", async ctx =>
        {
            ctx.Response.StatusCode = StatusCodes.Status403Forbidden;
            ctx.Response.Headers["x-refused"] = "early";
            await ctx.Response.WriteAsync("denied before the body");
        }, http2Only: true);
        var (proxy, port) = await GrpcProxyAsync("refuse", backend);
        await using var _ = proxy;

        using var client = TestProxy.Client(port);
        for (var call = 0; call < 4; call++)
        {
            // Even calls: no body byte yet when the request leaves (the proxy sends the head alone);
            // odd calls: a first message already there.
            var messages = Channel.CreateUnbounded<string>();
            if (call % 2 == 1)
                await messages.Writer.WriteAsync($"first of call {call}");
            var request = StreamRequest("/svc/Upload", messages.Reader);
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead).WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
            Assert.Equal("early", Assert.Single(response.Headers.GetValues("x-refused")));
            Assert.Equal("denied before the body", await response.Content.ReadAsStringAsync().WaitAsync(TimeSpan.FromSeconds(10)));
            messages.Writer.Complete();
        }
    }

    [Fact]
    public async Task A_call_answered_before_the_clients_end_of_stream_leaves_no_read_behind_for_the_next_call()
    {
        // Kestrel reuses a finished HTTP/2 stream's request-body pipe for a later request on the same
        // connection: a read of the early-answered call's body still pending there failed the next
        // call's body ("Reading is already in progress", answered 400; seen once in CI as a grpc-js
        // client stream through two sidecars). Early answers alternate with calls whose body the app
        // reads, all on one client connection, the client ending each early call's stream at once.
        await using var backend = await Backend.StartAsync("mixed", async ctx =>
        {
            if (ctx.Request.Path == "/svc/Refuse")
            {
                ctx.Response.StatusCode = StatusCodes.Status403Forbidden;
                await ctx.Response.WriteAsync("denied");
                return;
            }
            using var reader = new StreamReader(ctx.Request.Body);
            await ctx.Response.WriteAsync("echo:" + await reader.ReadToEndAsync());
        }, http2Only: true);
        var (proxy, port) = await GrpcProxyAsync("mixed", backend);
        await using var _ = proxy;

        using var client = TestProxy.Client(port);
        for (var call = 0; call < 300; call++)
        {
            var early = Channel.CreateUnbounded<string>();
            using (var refused = await client.SendAsync(StreamRequest("/svc/Refuse", early.Reader), HttpCompletionOption.ResponseHeadersRead).WaitAsync(TimeSpan.FromSeconds(10)))
            {
                Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
                Assert.Equal("denied", await refused.Content.ReadAsStringAsync().WaitAsync(TimeSpan.FromSeconds(10)));
                early.Writer.Complete();
            }
            var body = Channel.CreateUnbounded<string>();
            await body.Writer.WriteAsync($"call {call}");
            body.Writer.Complete();
            using var echoed = await client.SendAsync(StreamRequest("/svc/Echo", body.Reader)).WaitAsync(TimeSpan.FromSeconds(10));
            Assert.True(echoed.StatusCode == HttpStatusCode.OK, $"call {call}: {(int)echoed.StatusCode} {echoed.Headers}");
            Assert.Equal($"echo:call {call}\n", await echoed.Content.ReadAsStringAsync().WaitAsync(TimeSpan.FromSeconds(10)));
        }
    }

    [Fact]
    public async Task Response_headers_reach_the_client_before_the_body_starts()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = await Backend.StartAsync("sse", async ctx =>
        {
            ctx.Response.ContentType = "text/event-stream";
            await ctx.Response.StartAsync();
            await ctx.Response.Body.FlushAsync();
            await release.Task;
            await ctx.Response.WriteAsync("data: late\n\n");
        });
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("sse")).Cluster("sse", backend.Port).Build());
        using var client = TestProxy.Client(port);
        using var response = await client.GetAsync("/events", HttpCompletionOption.ResponseHeadersRead).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType!.MediaType);
        release.SetResult();
        Assert.Equal("data: late\n\n", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Client_abort_mid_stream_reaches_the_upstream_and_the_proxy_keeps_serving()
    {
        var upstreamAborted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = await Backend.StartAsync("endless", async ctx =>
        {
            if (ctx.Request.Path == "/ok")
            {
                await ctx.Response.WriteAsync("ok");
                return;
            }
            ctx.RequestAborted.Register(() => upstreamAborted.TrySetResult());
            try
            {
                while (!ctx.RequestAborted.IsCancellationRequested)
                {
                    await ctx.Response.WriteAsync(new string('x', 1024) + "\n", ctx.RequestAborted);
                    await Task.Delay(5, ctx.RequestAborted);
                }
            }
            catch (OperationCanceledException)
            {
            }
        });
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("endless")).Cluster("endless", backend.Port).Build());
        using (var client = TestProxy.Client(port))
        {
            var response = await client.GetAsync("/stream", HttpCompletionOption.ResponseHeadersRead);
            var stream = await response.Content.ReadAsStreamAsync();
            Assert.True(await stream.ReadAsync(new byte[100]) > 0);
            response.Dispose();
        }
        await upstreamAborted.Task.WaitAsync(TimeSpan.FromSeconds(10));

        using var again = TestProxy.Client(port);
        Assert.Equal("ok", await again.GetStringAsync("/ok"));
        // A client leaving is not the endpoint's fault.
        Assert.Contains("\"failures\": 0", await proxy.Admin.GetStringAsync("/clusters"));
    }

    [Fact]
    public async Task An_upstream_that_resets_while_the_client_is_still_sending_is_an_upstream_failure_not_a_bad_request()
    {
        // The client's body is fine: the app reads its first message and resets the stream.
        await using var backend = await Backend.StartAsync("resets", async ctx =>
        {
            var first = new byte[3];
            await ctx.Request.Body.ReadAtLeastAsync(first, first.Length);
            ctx.Abort();
        }, http2Only: true);
        var (proxy, port) = await GrpcProxyAsync("resets", backend);
        await using var _ = proxy;

        using var client = TestProxy.Client(port);
        var messages = Channel.CreateUnbounded<string>();
        await messages.Writer.WriteAsync("m0");
        var request = StreamRequest("/svc/Upload", messages.Reader);   // never completed: the client is still sending
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("upstream_reset", Assert.Single(response.Headers.GetValues("x-weft-reason")));
        Assert.Contains("UpstreamReset", await proxy.Admin.GetStringAsync("/clusters"));
    }

    /// <summary>A proxy with one gRPC listener routing everything to <paramref name="backend"/> (h2c).</summary>
    private static async Task<(TestProxy Proxy, int Port)> GrpcProxyAsync(string cluster, Backend backend)
    {
        var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port, protocol: Protocol.Grpc)
            .Routes("rt", ConfigBuilder.Route(cluster)).Cluster(cluster, Protocol.Grpc, (backend.Port, "v1")).Build());
        return (proxy, port);
    }

    /// <summary>An HTTP/2 gRPC-style POST whose body is <paramref name="messages"/>, one line each, as they come.</summary>
    private static HttpRequestMessage StreamRequest(string path, ChannelReader<string> messages)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path)
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ChannelContent(messages),
        };
        request.Content.Headers.ContentType = new("application/grpc");
        return request;
    }

    private sealed class ChannelContent(ChannelReader<string> messages) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            // As a gRPC client does: the request head leaves now, not with the first message (which
            // may only come once the response head arrived).
            await stream.FlushAsync();
            await foreach (var message in messages.ReadAllAsync())
            {
                await stream.WriteAsync(Encoding.UTF8.GetBytes(message + "\n"));
                await stream.FlushAsync();
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = -1;
            return false;
        }
    }
}
