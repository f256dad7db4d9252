using System.Diagnostics;
using System.Net;
using System.Net.WebSockets;
using System.Text;
using Microsoft.AspNetCore.Http;
using Weft.Protocol.Discovery;
using Weft.Proxy.Codecs.Http1;
using Weft.Proxy.Tests.Support;
using Weft.Tests.Fakes;

namespace Weft.Proxy.Tests.Codecs.Http1;

using Protocol = Weft.Protocol.Discovery.Protocol;

public sealed class BehaviourTests
{
    private static async Task<(TestProxy Proxy, int Port)> ProxyToAsync(int upstreamPort, ProxyHostOptions? options = null,
        Direction direction = Direction.Outbound, Protocol clusterProtocol = Protocol.Http, ProxySettings? settings = null)
    {
        var proxy = await TestProxy.StartAsync(options: options);
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port, direction: direction).Routes("rt", ConfigBuilder.Route("app"))
            .Cluster("app", clusterProtocol, (upstreamPort, "v1")).Settings(settings).Build());
        return (proxy, port);
    }

    [Fact]
    public async Task Slowloris_gets_408_and_does_not_delay_other_clients()
    {
        await using var upstream = new RecordingUpstream();
        var (proxy, port) = await ProxyToAsync(upstream.Port, settings: new ProxySettings { RequestHeadersTimeoutMs = 3000 });
        await using var _ = proxy;
        await using var normal = await RawClient.ConnectAsync(port);
        await normal.SendAsync("GET /warm HTTP/1.1\r\nHost: a\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 200", await normal.ReadResponseAsync());

        await using var slow = await RawClient.ConnectAsync(port);
        await slow.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n");
        var dribble = Task.Run(async () =>
        {
            try
            {
                for (var i = 0; i < 60; i++)
                {
                    await slow.SendAsync("X");
                    await Task.Delay(100);
                }
            }
            catch (Exception)
            {
                // Closed by the proxy: expected.
            }
        });

        for (var i = 0; i < 20; i++)
        {
            var watch = Stopwatch.StartNew();
            await normal.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
            var response = await normal.ReadResponseAsync();
            Assert.StartsWith("HTTP/1.1 200", response);
            // Starved, it would wait for the slow client's 3 s timeout; the margin is for a loaded machine.
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2), "a normal client waited " + watch.Elapsed);
        }

        var (text, closed) = await slow.ReadToEndAsync(TimeSpan.FromSeconds(5));
        Assert.StartsWith("HTTP/1.1 408 ", text);
        Assert.True(closed);
        await dribble;
    }

    [Fact]
    public async Task Idle_keep_alive_connection_is_closed_after_the_timeout()
    {
        await using var upstream = new RecordingUpstream();
        var (proxy, port) = await ProxyToAsync(upstream.Port, settings: new ProxySettings { HttpIdleTimeoutMs = 1000 });
        await using var _ = proxy;
        await using var client = await RawClient.ConnectAsync(port);
        await client.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 200", await client.ReadResponseAsync());
        var (rest, closed) = await client.ReadToEndAsync(TimeSpan.FromSeconds(5));
        Assert.True(closed);
        Assert.Equal("", rest);                          // idle: closed without a 408
    }

    [Fact]
    public async Task Hop_by_hop_and_Connection_named_headers_are_removed_both_ways()
    {
        await using var backend = await Backend.StartAsync("app", ctx =>
        {
            ctx.Response.Headers["X-Resp-Private"] = "secret";
            ctx.Response.Headers["Connection"] = "X-Resp-Private";
            ctx.Response.Headers["Keep-Alive"] = "timeout=5";
            return Backend.EchoAsync(ctx, "app");
        });
        var (proxy, port) = await ProxyToAsync(backend.Port);
        await using var _ = proxy;
        await using var client = await RawClient.ConnectAsync(port);
        await client.SendAsync("GET /h HTTP/1.1\r\nHost: a\r\nConnection: X-Private, keep-alive\r\nX-Private: p\r\nKeep-Alive: 5\r\n" +
            "Proxy-Authorization: x\r\nTE: gzip\r\nUpgrade: h2c\r\nX-Kept: k\r\n\r\n");
        var response = await client.ReadUntilAsync("x-kept");
        var body = response.ToLowerInvariant();
        Assert.Contains("x-kept: k", body);
        Assert.DoesNotContain("x-private", body);
        Assert.DoesNotContain("keep-alive: 5", body);
        Assert.DoesNotContain("proxy-authorization", body);
        Assert.DoesNotContain("te: gzip", body);
        Assert.DoesNotContain("upgrade", body);
        Assert.DoesNotContain("x-resp-private", body);
        Assert.DoesNotContain("keep-alive: timeout", body);
    }

    [Fact]
    public async Task Gateway_listener_removes_mesh_internal_headers_from_outside()
    {
        await using var backend = await Backend.StartAsync("app");
        var (proxy, port) = await ProxyToAsync(backend.Port, direction: Direction.GatewayIngress);
        await using var _ = proxy;
        using var client = TestProxy.Client(port);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/g");
        request.Headers.Add("x-weft-source", "evil;v1;default");
        request.Headers.Add("x-weft-anything", "forged");
        var body = await (await client.SendAsync(request)).Content.ReadAsStringAsync();
        Assert.DoesNotContain("forged", body);
        Assert.DoesNotContain("evil", body);
        Assert.Contains("x-weft-source: " + TestProxy.DefaultIdentity.SourceHeaderValue, body);
    }

    [Fact]
    public async Task Expect_100_continue_is_answered_and_the_body_flows()
    {
        await using var backend = await Backend.StartAsync("app", async ctx =>
        {
            var text = await new StreamReader(ctx.Request.Body).ReadToEndAsync();
            await ctx.Response.WriteAsync("got:" + text + ":" + ctx.Request.Headers.Expect.ToString());
        });
        var (proxy, port) = await ProxyToAsync(backend.Port);
        await using var _ = proxy;
        await using var client = await RawClient.ConnectAsync(port);
        await client.SendAsync("POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
        var interim = await client.ReadUntilAsync("\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 100 Continue\r\n\r\n", interim);
        await client.SendAsync("hello");
        var response = await client.ReadResponseAsync();
        Assert.StartsWith("HTTP/1.1 200", response);
        Assert.Contains("got:hello:", response);
    }

    [Fact]
    public async Task Chunked_request_and_close_delimited_HTTP10_response_are_forwarded()
    {
        // An HTTP/1.0 upstream that answers without a length and closes.
        using var upstream = OneConnectionUpstream.Start(received => received.EndsWith("0\r\n\r\n", StringComparison.Ordinal), async socket =>
        {
            await socket.SendAsync(Encoding.ASCII.GetBytes("HTTP/1.0 200 OK\r\nX-Up: 1\r\n\r\nclose-delimited body"));
            socket.Shutdown(System.Net.Sockets.SocketShutdown.Both);
        });
        var (proxy, port) = await ProxyToAsync(upstream.Port);
        await using var _ = proxy;
        await using var client = await RawClient.ConnectAsync(port);
        await client.SendAsync("POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n");
        // The client gets the close-delimited body chunked: its end is then visible, and the client's
        // connection (unlike the upstream's) stays open for the next request.
        var text = await client.ReadResponseAsync();
        Assert.StartsWith("HTTP/1.1 200 OK", text);
        Assert.Contains("Transfer-Encoding: chunked\r\n", text);
        Assert.DoesNotContain("Connection: close", text);
        Assert.EndsWith("\r\n\r\n14\r\nclose-delimited body\r\n0\r\n\r\n", text);
        var upstreamSaw = await upstream.Received;
        Assert.Contains("Transfer-Encoding: chunked\r\n", upstreamSaw);
        Assert.EndsWith("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", upstreamSaw);
    }

    [Fact]
    public async Task Interim_responses_from_the_upstream_are_skipped_and_the_final_one_forwarded()
    {
        // The upstream sends 103 in two pieces, then 100, then the final response: the head read
        // waits for the rest of a split head and moves past every interim one.
        using var upstream = OneConnectionUpstream.Start(received => received.Contains("\r\n\r\n", StringComparison.Ordinal), async socket =>
        {
            foreach (var piece in new[] { "HTTP/1.1 103 Early Hints\r\nLink: </s.css>", "; rel=preload\r\n\r\n",
                "HTTP/1.1 100 Continue\r\n\r\n", "HTTP/1.1 200 OK\r\nX-Final: yes\r\nContent-Length: 5\r\n\r\nfinal" })
            {
                await socket.SendAsync(Encoding.ASCII.GetBytes(piece));
                await Task.Delay(50);
            }
        });
        var (proxy, port) = await ProxyToAsync(upstream.Port);
        await using var _ = proxy;
        await using var client = await RawClient.ConnectAsync(port);
        await client.SendAsync("GET /hints HTTP/1.1\r\nHost: a\r\n\r\n");
        var response = await client.ReadResponseAsync();
        Assert.StartsWith("HTTP/1.1 200 OK\r\n", response);
        Assert.Contains("X-Final: yes\r\n", response);
        Assert.DoesNotContain("Early Hints", response);
        Assert.DoesNotContain("Link:", response);
        Assert.EndsWith("\r\n\r\nfinal", response);
        Assert.StartsWith("GET /hints HTTP/1.1\r\n", await upstream.Received.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task Http10_client_gets_a_chunked_response_decoded_and_closed()
    {
        await using var backend = await Backend.StartAsync("app", async ctx =>
        {
            await ctx.Response.WriteAsync("part1-");
            await ctx.Response.Body.FlushAsync();
            await ctx.Response.WriteAsync("part2");
        });
        var (proxy, port) = await ProxyToAsync(backend.Port);
        await using var _ = proxy;
        await using var client = await RawClient.ConnectAsync(port);
        await client.SendAsync("GET /old HTTP/1.0\r\n\r\n");
        var (text, closed) = await client.ReadToEndAsync();
        Assert.StartsWith("HTTP/1.1 200", text);
        Assert.DoesNotContain("Transfer-Encoding", text);
        Assert.EndsWith("\r\n\r\npart1-part2", text);
        Assert.True(closed);
    }

    [Fact]
    public async Task Head_and_204_have_no_body_and_keep_the_connection()
    {
        await using var backend = await Backend.StartAsync("app", ctx =>
        {
            if (ctx.Request.Path == "/204")
            {
                ctx.Response.StatusCode = 204;
                return Task.CompletedTask;
            }
            ctx.Response.ContentLength = 10;
            return HttpMethods.IsHead(ctx.Request.Method) ? Task.CompletedTask : ctx.Response.WriteAsync("0123456789");
        });
        var (proxy, port) = await ProxyToAsync(backend.Port);
        await using var _ = proxy;
        await using var client = await RawClient.ConnectAsync(port);
        await client.SendAsync("HEAD /h HTTP/1.1\r\nHost: a\r\n\r\n");
        var head = await client.ReadUntilAsync("\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 200", head);
        Assert.Contains("Content-Length: 10", head);
        Assert.EndsWith("\r\n\r\n", head);
        await client.SendAsync("GET /204 HTTP/1.1\r\nHost: a\r\n\r\n");
        var noContent = await client.ReadUntilAsync("\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 204", noContent);
        await client.SendAsync("GET /get HTTP/1.1\r\nHost: a\r\n\r\n");
        Assert.EndsWith("0123456789", await client.ReadResponseAsync());
    }

    [Fact]
    public async Task Draining_answers_with_connection_close()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = await Backend.StartAsync("app", async ctx =>
        {
            arrived.TrySetResult();
            await release.Task;
            await ctx.Response.WriteAsync("late");
        });
        var (proxy, port) = await ProxyToAsync(backend.Port);
        await using var _ = proxy;
        await using var client = await RawClient.ConnectAsync(port);
        await client.SendAsync("GET /slow HTTP/1.1\r\nHost: a\r\n\r\n");
        await arrived.Task.WaitAsync(TimeSpan.FromSeconds(10));
        var stopping = proxy.Host.StopAsync(TimeSpan.FromSeconds(10));
        await Task.Delay(200);
        release.SetResult();
        var (text, closed) = await client.ReadToEndAsync();
        Assert.StartsWith("HTTP/1.1 200", text);
        Assert.Contains("Connection: close", text);
        Assert.EndsWith("4\r\nlate\r\n0\r\n\r\n", text);
        Assert.True(closed);
        await stopping;
    }

    [Fact]
    public async Task Http11_request_to_an_http2_cluster_is_served_over_http2_upstream()
    {
        await using var backend = await Backend.StartAsync("h2app", ctx => ctx.Response.WriteAsync("proto:" + ctx.Request.Protocol), http2Only: true);
        var (proxy, port) = await ProxyToAsync(backend.Port, clusterProtocol: Protocol.Http2);
        await using var _ = proxy;
        using var client = TestProxy.Client(port);
        Assert.Equal("proto:HTTP/2", await client.GetStringAsync("/x"));
        Assert.Equal("proto:HTTP/2", await client.GetStringAsync("/y"));
    }

    [Fact]
    public async Task Dot_segments_are_resolved_before_routing_on_the_lean_codec()
    {
        await using var backend = await Backend.StartAsync("app");
        var proxy = await TestProxy.StartAsync();
        await using var _ = proxy;
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port)
            .Routes("rt", ConfigBuilder.Route("default/app", [ConfigBuilder.Prefix("/public")], ("app", 1)))
            .Cluster("app", backend.Port).Build());
        await using var client = await RawClient.ConnectAsync(port);
        await client.SendAsync("GET /public/../admin HTTP/1.1\r\nHost: a\r\n\r\n");
        var response = await client.ReadResponseAsync();
        Assert.StartsWith("HTTP/1.1 404", response);      // normalized to /admin: no route
    }

    [Fact]
    public async Task WebSocket_echo_both_ways_held_open_for_seconds()
    {
        await using var app = await WebSocketApp.StartAsync();
        var (proxy, port) = await ProxyToAsync(app.Port);
        await using var _ = proxy;
        using var ws = new ClientWebSocket();
        await ws.ConnectAsync(new Uri($"ws://127.0.0.1:{port}/ws"), default);
        var buffer = new byte[4096];
        var first = await ws.ReceiveAsync(buffer, default);
        Assert.Equal(WebSocketApp.Hello, Encoding.UTF8.GetString(buffer, 0, first.Count));
        // A fixed count, not "as many as fit in 3 s": on a loaded machine fewer fit, and the point is
        // that the connection carries messages both ways for seconds (12 x 250 ms apart).
        for (var i = 0; i < 12; i++)
        {
            await AssertEchoAsync(ws, "message " + i);
            await Task.Delay(250);
        }
        await ws.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", default);
        Assert.Equal(WebSocketState.Closed, ws.State);
    }

    [Fact]
    public async Task WebSocket_outlives_the_head_and_keep_alive_timeouts_busy_or_quiet()
    {
        await using var app = await WebSocketApp.StartAsync();
        var time = new FakeTime();
        var (proxy, port) = await ProxyToAsync(app.Port, new ProxyHostOptions { TimeProvider = time });
        await using var _ = proxy;
        // The control: an idle keep-alive connection on the same clock, which the timeouts must end.
        await using var idle = await RawClient.ConnectAsync(port);
        await idle.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 200", await idle.ReadResponseAsync());

        using var ws = new ClientWebSocket();
        ws.Options.KeepAliveInterval = TimeSpan.Zero;
        await ws.ConnectAsync(new Uri($"ws://127.0.0.1:{port}/ws"), default);
        var buffer = new byte[4096];
        await ws.ReceiveAsync(buffer, default);          // the app's hello
        var limits = Weft.Proxy.Config.ProxyLimits.Default;
        // Messages flowing past the head timeout (from the upgrade request's first byte), then
        // quiet stretches each longer than the keep-alive timeout: the upgraded connection is no
        // longer HTTP, neither applies.
        for (var second = 0; second < 2 * limits.RequestHeadersTimeout.TotalSeconds; second++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            await AssertEchoAsync(ws, $"busy {second}");
        }
        for (var quiet = 0; quiet < 3; quiet++)
        {
            time.Advance(limits.HttpIdleTimeout + TimeSpan.FromSeconds(1));
            await AssertEchoAsync(ws, $"after quiet {quiet}");
        }

        var (rest, closed) = await idle.ReadToEndAsync(TimeSpan.FromSeconds(5));
        Assert.True(closed, "the idle keep-alive connection was not closed: the fake clock drives no timeout");
        Assert.Equal("", rest);
        await ws.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", default);
        Assert.Equal(WebSocketState.Closed, ws.State);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, ws.CloseStatus);
    }

    private static async Task AssertEchoAsync(ClientWebSocket ws, string message)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await ws.SendAsync(Encoding.UTF8.GetBytes(message), WebSocketMessageType.Text, true, deadline.Token);
        var buffer = new byte[4096];
        var echo = await ws.ReceiveAsync(buffer, deadline.Token);
        Assert.Equal(WebSocketMessageType.Text, echo.MessageType);
        Assert.Equal(message, Encoding.UTF8.GetString(buffer, 0, echo.Count));
    }

    [Fact]
    public async Task Metrics_and_endpoint_stats_count_lean_requests()
    {
        await using var backend = await Backend.StartAsync("app");
        var (proxy, port) = await ProxyToAsync(backend.Port);
        await using var _ = proxy;
        await using var client = await RawClient.ConnectAsync(port);
        for (var i = 0; i < 3; i++)
        {
            await client.SendAsync("GET /m HTTP/1.1\r\nHost: a\r\n\r\n");
            Assert.StartsWith("HTTP/1.1 200", await client.ReadResponseAsync());
        }
        // A request is counted just after its response is written: the client can read the answer
        // first, so wait for the count (with a deadline) rather than read it once.
        await Eventually.TrueAsync(async () => (await proxy.MetricsAsync()).Split('\n').Any(line =>
                line.StartsWith("weft_requests_total{", StringComparison.Ordinal) && line.Contains("response_code=\"200\"", StringComparison.Ordinal)
                && line.Contains("protocol=\"http\"", StringComparison.Ordinal) && line.EndsWith("} 3", StringComparison.Ordinal)),
            "weft_requests_total counts the 3 requests as 200 over http");
        var clusters = await proxy.Admin.GetStringAsync("/clusters");
        Assert.Contains("3", clusters);
    }
}

public sealed class UpstreamReuseTests
{
    [Fact]
    public async Task A_pooled_connection_the_upstream_closed_is_not_used_and_requests_succeed()
    {
        // An upstream that closes every connection right after answering, without saying so (as an
        // idle keep-alive timeout does): the proxy must notice, or retry a bodiless request once.
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var upstreamPort = ((IPEndPoint)listener.LocalEndpoint).Port;
        using var stop = new CancellationTokenSource();
        var accepted = 0;
        _ = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var socket = await listener.AcceptSocketAsync(stop.Token);
                Interlocked.Increment(ref accepted);
                _ = Task.Run(async () =>
                {
                    using (socket)
                    {
                        var buffer = new byte[4096];
                        var head = "";
                        while (!head.Contains("\r\n\r\n", StringComparison.Ordinal))
                        {
                            var n = await socket.ReceiveAsync(buffer);
                            if (n == 0)
                                return;
                            head += Encoding.ASCII.GetString(buffer, 0, n);
                        }
                        await socket.SendAsync("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"u8.ToArray());
                        socket.Shutdown(System.Net.Sockets.SocketShutdown.Both);
                    }
                });
            }
        });
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("app")).Cluster("app", upstreamPort).Build());
        await using var client = await RawClient.ConnectAsync(port);
        for (var i = 0; i < 5; i++)
        {
            await client.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
            Assert.StartsWith("HTTP/1.1 200", await client.ReadResponseAsync());
            if (i % 2 == 0)
                await Task.Delay(50);              // sometimes the FIN is there before the next take, sometimes not
        }
        Assert.True(accepted >= 5);
        stop.Cancel();
    }
}
