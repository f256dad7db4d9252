using System.Net;
using System.Net.Http.Headers;
using Microsoft.AspNetCore.Http;
using Weft.Protocol.Discovery;
using Weft.Proxy.Tests.Codecs.Http1;
using Weft.Proxy.Tests.Support;

namespace Weft.Proxy.Tests.Pipeline;

using Protocol = Weft.Protocol.Discovery.Protocol;

/// <summary>
/// The answers the proxy gives itself where docs/proxy.md promises them (its table of reasons and its
/// Limits), through real sockets: a request arriving on a listener being removed, a client body that
/// breaks midway, a slow h2c upload, and which requests count as gRPC for the request timeout.
/// CONNECT and HEAD, the same on every codec, are in <see cref="ParityTests"/>.
/// </summary>
public sealed class LocalReplyTests
{
    [Theory]
    [InlineData(ParityCodec.LeanHttp1)]
    [InlineData(ParityCodec.KestrelHttp1)]
    [InlineData(ParityCodec.H2c)]
    public async Task A_request_whose_head_ends_after_its_listener_was_removed_gets_503_listener_draining(ParityCodec codec)
    {
        var inside = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = await Backend.StartAsync("app", async ctx =>
        {
            if (ctx.Request.Path == "/held")
            {
                inside.TrySetResult();
                await release.Task.WaitAsync(TimeSpan.FromSeconds(20));
            }
            await Backend.EchoAsync(ctx, "app");
        });
        await using var proxy = await StartProxyAsync(codec);
        var port = TestProxy.FreePort();
        var kept = TestProxy.FreePort();
        var config = new ConfigBuilder().Listener(port).Listener(kept).Routes("rt", ConfigBuilder.Route("app")).Cluster("app", backend.Port);
        await proxy.ApplyOkAsync(config.Build());

        if (codec == ParityCodec.H2c)
        {
            // A request in flight keeps the connection open through the drain; the next request's header
            // block starts in the same write (so the proxy has it before the config changes) and ends after.
            await using var h2 = await RawH2Client.ConnectAsync(port);
            // Its SETTINGS acknowledged first: no frame may come between a header block's frames.
            await Eventually.TrueAsync(() => Task.FromResult(h2.ServerSettings is not null), "the proxy's SETTINGS");
            var late = RawH2Client.RequestBlock("/late");
            await h2.SendAsync(RawH2Client.Concat(
                RawH2Client.Get(1, "/held"),
                RawH2Client.Frame(RawH2Client.Headers, RawH2Client.EndStream, 3, late.AsSpan(0, 2))));
            await inside.Task.WaitAsync(TimeSpan.FromSeconds(10));
            await proxy.ApplyOkAsync(config.Remove("listener/127.0.0.1_" + port).Build(2));
            await h2.SendAsync(RawH2Client.Frame(RawH2Client.Continuation, RawH2Client.EndHeaders, 3, late.AsSpan(2)));
            await Eventually.TrueAsync(() => Task.FromResult(h2.Ended(3) || h2.ResetOf(3) is not null || h2.Closed), "the answer to the late request");
            Assert.Equal(503, h2.StatusOf(3));
            Assert.Contains("x-weft-reason\u0011listener_draining", h2.HeaderBlockOf(3));
            Assert.Contains("this listener is being removed", h2.BodyOf(3));
            release.TrySetResult();
            await Eventually.TrueAsync(() => Task.FromResult(h2.Ended(1)), "the request in flight to finish");
            Assert.Equal(200, h2.StatusOf(1));
        }
        else
        {
            // The first request proves the connection is served; the second's head is already at the
            // proxy (same write) when the config changes, and ends after.
            await using var client = await RawClient.ConnectAsync(port);
            await client.SendAsync("GET /first HTTP/1.1\r\nHost: a\r\n\r\nGET /late HTTP/1.1\r\nHost: a\r\n");
            Assert.StartsWith("HTTP/1.1 200 ", await client.ReadResponseAsync());
            await proxy.ApplyOkAsync(config.Remove("listener/127.0.0.1_" + port).Build(2));
            await client.SendAsync("X-Late: yes\r\n\r\n");
            var (text, closed) = await client.ReadToEndAsync(TimeSpan.FromSeconds(10));
            Assert.StartsWith("HTTP/1.1 503 ", text);
            Assert.Contains("\r\nx-weft-reason: listener_draining\r\n", text);
            Assert.Contains("this listener is being removed\n", text);
            Assert.True(closed, "the connection stayed open after listener_draining");
        }
        Assert.Equal(1, backend.Requests);
        // The listener that stayed serves as before.
        using var other = TestProxy.Client(kept);
        Assert.StartsWith("backend: app\n", await other.GetStringAsync("/kept"));
    }

    [Theory]
    [InlineData(ParityCodec.LeanHttp1, Protocol.Http)]
    [InlineData(ParityCodec.LeanHttp1, Protocol.Http2)]
    [InlineData(ParityCodec.KestrelHttp1, Protocol.Http)]
    [InlineData(ParityCodec.KestrelHttp1, Protocol.Http2)]
    public async Task A_chunked_body_that_turns_malformed_while_the_app_reads_it_gets_400_request_body_failed(ParityCodec codec, Protocol upstream)
    {
        var reading = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var wholeBody = false;
        await using var backend = await Backend.StartAsync("sink", async ctx =>
        {
            var buffer = new byte[1024];
            var total = 0;
            int n;
            while ((n = await ctx.Request.Body.ReadAsync(buffer)) > 0)
            {
                total += n;
                if (total >= 5)
                    reading.TrySetResult();
            }
            wholeBody = true;
            await ctx.Response.WriteAsync("got " + total);
        }, http2Only: upstream == Protocol.Http2);
        await using var proxy = await StartProxyAsync(codec);
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("sink"))
            .Cluster("sink", upstream, (backend.Port, "v1")).Build());

        await using var client = await RawClient.ConnectAsync(port);
        await client.SendAsync("POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
        await reading.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await client.SendAsync("zz\r\nnot a chunk\r\n0\r\n\r\n");
        var (text, closed) = await client.ReadToEndAsync(TimeSpan.FromSeconds(10));
        Assert.StartsWith("HTTP/1.1 400 ", text);
        Assert.Contains("\r\nx-weft-reason: request_body_failed\r\n", text);
        Assert.True(closed, "the connection stayed open after a malformed body");
        Assert.False(wholeBody, "the app read a complete body");
        // The client's fault is not the endpoint's: it is still healthy and served.
        using var other = TestProxy.Client(port);
        using var ok = await other.PostAsync("/upload", new StringContent("fine"));
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.Equal("got 4", await ok.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task An_h2c_client_trickling_its_body_below_the_minimum_rate_is_cut_off_and_the_app_is_released()
    {
        var appGaveUp = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = await Backend.StartAsync("sink", async ctx =>
        {
            if (ctx.Request.Path == "/upload")
            {
                try
                {
                    await ctx.Request.Body.CopyToAsync(Stream.Null, ctx.RequestAborted);
                }
                catch (Exception)
                {
                    appGaveUp.TrySetResult();
                    throw;
                }
            }
            await ctx.Response.WriteAsync("ok");
        });
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("sink")).Cluster("sink", backend.Port)
            .Settings(new ProxySettings { MinBodyBytesPerSecond = 50_000, MinBodyRateGraceMs = 1000 }).Build());

        await using var slow = await RawH2Client.ConnectAsync(port);
        var block = new List<byte>();
        RawH2Client.Literal(block, ":method", "POST");
        RawH2Client.Literal(block, ":scheme", "http");
        RawH2Client.Literal(block, ":path", "/upload");
        RawH2Client.Literal(block, ":authority", "test");
        await slow.SendAsync(RawH2Client.Frame(RawH2Client.Headers, RawH2Client.EndHeaders, 1, block.ToArray()));
        using var stopDribble = new CancellationTokenSource();
        var dribble = Task.Run(async () =>
        {
            for (var i = 0; i < 100 && !stopDribble.IsCancellationRequested; i++)
            {
                // 50 B/s against a minimum of 50 KB/s: the client's pace, not a wait of the test's.
                if (!await slow.TrySendAsync(RawH2Client.Frame(RawH2Client.Data, 0, 1, new byte[10])))
                    return;
                await Task.Delay(200);
            }
        });
        using var other = Http2Client(port);
        for (var i = 0; i < 5; i++)
            Assert.Equal("ok", await other.GetStringAsync("/fast"));

        await Eventually.TrueAsync(() => Task.FromResult(slow.Closed || slow.ResetOf(1) is not null), "the slow client cut off",
            TimeSpan.FromSeconds(10));
        Assert.NotEqual(200, slow.StatusOf(1));
        await appGaveUp.Task.WaitAsync(TimeSpan.FromSeconds(10));
        stopDribble.Cancel();
        await dribble;
        Assert.Equal("ok", await other.GetStringAsync("/after"));
    }

    [Fact]
    public async Task Over_h2c_a_grpc_content_type_in_any_case_is_exempt_from_the_request_timeout_and_grpc_web_is_not()
    {
        var arrived = 0;
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = await Backend.StartAsync("late", async ctx =>
        {
            Interlocked.Increment(ref arrived);
            await ctx.Request.Body.CopyToAsync(Stream.Null);
            try
            {
                await release.Task.WaitAsync(TimeSpan.FromSeconds(20), ctx.RequestAborted);
            }
            catch (OperationCanceledException)
            {
                return;                                  // the proxy gave up on this one
            }
            await ctx.Response.WriteAsync("late but fine");
        }, http2Only: true);
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("late"))
            .Cluster("late", Protocol.Grpc, (backend.Port, "v1")).Settings(new ProxySettings { RequestTimeoutMs = 500 }).Build());
        using var client = Http2Client(port);

        var grpc = client.SendAsync(Post("/pkg.Svc/Call", "Application/GRPC+proto"));
        await Eventually.TrueAsync(() => Task.FromResult(Volatile.Read(ref arrived) == 1), "the gRPC call at the app");
        // Started after the gRPC call: when it times out, the gRPC call has waited longer than the timeout.
        using var web = await client.SendAsync(Post("/pkg.Svc/Web", "application/grpc-web"));
        Assert.Equal(HttpStatusCode.GatewayTimeout, web.StatusCode);
        Assert.Equal("timeout", web.Headers.GetValues("x-weft-reason").Single());
        Assert.False(grpc.IsCompleted, "the gRPC call was answered before its app did");

        release.TrySetResult();
        using var exempt = await grpc;
        Assert.True(exempt.StatusCode == HttpStatusCode.OK,
            $"{exempt.StatusCode} {string.Join(",", exempt.Headers.TryGetValues("x-weft-reason", out var r) ? r : [])}: {await exempt.Content.ReadAsStringAsync()}");
        Assert.Equal("late but fine", await exempt.Content.ReadAsStringAsync());
    }

    private static HttpRequestMessage Post(string path, string contentType)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new ByteArrayContent([0, 0, 0, 0, 0]) };
        request.Content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        request.Headers.TE.Add(new TransferCodingWithQualityHeaderValue("trailers"));
        return request;
    }

    private static async Task<TestProxy> StartProxyAsync(ParityCodec codec) => await TestProxy.StartAsync(options: new ProxyHostOptions
    {
        LeanHttp1 = codec != ParityCodec.KestrelHttp1,
        ListenerDrainTimeout = TimeSpan.FromSeconds(10),
    });

    private static HttpClient Http2Client(int port)
    {
        var client = TestProxy.Client(port);
        client.DefaultRequestVersion = HttpVersion.Version20;
        client.DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact;
        return client;
    }
}
