using System.Net;
using Weft.Proxy.Tests.Support;
using static Weft.Proxy.Tests.Support.RawH2Client;

namespace Weft.Proxy.Tests.Upstream;

using Protocol = Weft.Protocol.Discovery.Protocol;

/// <summary>
/// The proxy's own HTTP/2 client against a scripted upstream (<see cref="RawH2Server"/>), seen from the
/// upstream's sockets: a stream the upstream never processed (REFUSED_STREAM, or above a GOAWAY's last
/// stream id) goes once more on another connection, a GOAWAY lets the streams it covers finish and
/// retires the connection, the upstream's stream limit opens more connections, PINGs spread over time
/// are no flood. Clients speak HTTP/1.1 to the proxy's listener.
/// </summary>
public sealed class Http2UpstreamTests
{
    [Fact]
    public async Task A_GET_whose_stream_is_refused_goes_once_more_on_another_connection_and_is_answered()
    {
        await using var mesh = await ProxiedUpstream.StartAsync(r => r.Index == 0 ? r.RefuseAsync() : r.RespondAsync(200, "served"));

        Assert.Equal("served", await mesh.OkAsync(mesh.Client.GetAsync("/a")));
        var requests = mesh.Upstream.Requests;
        Assert.Equal(new[] { "/a", "/a" }, requests.Select(r => r.Path));
        Assert.True(requests[1].Connection.Index == 1,
            $"the second attempt went on connection {requests[1].Connection.Index}, the one that refused it\n{mesh.Upstream.Log}");
        Assert.Equal(2, mesh.Upstream.Connections.Count);
    }

    [Fact]
    public async Task A_stream_refused_on_both_attempts_gets_the_client_a_503_upstream_reset_after_exactly_two()
    {
        await using var mesh = await ProxiedUpstream.StartAsync(r => r.RefuseAsync());

        await mesh.ExpectUpstreamResetAsync(mesh.Client.GetAsync("/a"));
        // The 503 ends the request's attempts: a third would have reached the upstream before it.
        Assert.True(mesh.Upstream.Requests.Count == 2, mesh.Upstream.Log);
    }

    [Fact]
    public async Task A_refused_stream_is_not_answered_with_a_RST_STREAM_of_the_proxys_own()
    {
        // RFC 9113 5.4.2: an endpoint MUST NOT send RST_STREAM in response to RST_STREAM (two peers could loop).
        await using var mesh = await ProxiedUpstream.StartAsync(r => r.RefuseAsync());

        await mesh.ExpectUpstreamResetAsync(mesh.Client.GetAsync("/a"));
        // Whatever the proxy wrote before its 503 is read by the time a PING sent after it is answered.
        await mesh.Upstream.Connections[0].PingAsync();
        var answered = mesh.Upstream.Requests.Where(r => r.ResetByProxy is not null).Select(r => $"s{r.StreamId} code {r.ResetByProxy}").ToList();
        Assert.True(answered.Count == 0, $"the proxy reset streams the upstream had refused: {string.Join(", ", answered)}\n{mesh.Upstream.Log}");
    }

    [Theory]
    [InlineData(5)]
    [InlineData(10 * 1024)]
    public async Task A_POST_whose_stream_is_refused_after_its_whole_body_arrived_goes_again_with_the_whole_body(int size)
    {
        var sent = Payload(size);
        // Refused only once the whole body arrived: the proxy read all of it, so only a copy it kept can go again.
        await using var mesh = await ProxiedUpstream.StartAsync(async r =>
        {
            if (await r.BodyEnded && r.Index == 0)
                await r.RefuseAsync();
            else
                await r.RespondAsync(200, "received " + r.Body.Length);
        });

        Assert.Equal("received " + size, await mesh.OkAsync(mesh.Client.PostAsync("/upload", new ByteArrayContent(sent))));
        var requests = mesh.Upstream.Requests;
        Assert.Equal(2, requests.Count);
        Assert.Equal(sent, requests[0].Body);
        Assert.Equal("POST", requests[1].Method);
        Assert.True(await requests[1].BodyEnded, "the second attempt's body ended with END_STREAM");
        Assert.Equal(sent, requests[1].Body);
    }

    [Fact]
    public async Task A_POST_whose_body_is_too_large_to_keep_is_not_sent_again_when_refused_503_upstream_reset()
    {
        // 100 KB: past the 16 KB the proxy keeps for a second attempt, and past the 64 KB initial window (the body flows on this server's credit).
        var sent = Payload(100 * 1024);
        await using var mesh = await ProxiedUpstream.StartAsync(async r =>
        {
            await r.BodyEnded;
            await r.RefuseAsync();
        });

        await mesh.ExpectUpstreamResetAsync(mesh.Client.PostAsync("/upload", new ByteArrayContent(sent)));
        var requests = mesh.Upstream.Requests;
        Assert.True(requests.Count == 1, mesh.Upstream.Log);
        Assert.Equal(sent, requests[0].Body);
    }

    [Fact]
    public async Task After_a_GOAWAY_its_streams_finish_on_the_old_connection_new_requests_take_a_new_one_and_the_old_closes_when_done()
    {
        var release = Gate();
        await using var mesh = await ProxiedUpstream.StartAsync(async r =>
        {
            if (r.Connection.Index == 0)
                await release.Task;
            await r.RespondAsync(200, $"c{r.Connection.Index} {r.Path}");
        });
        var one = mesh.Client.GetAsync("/one");
        var two = mesh.Client.GetAsync("/two");
        await Eventually.TrueAsync(() => Task.FromResult(mesh.Upstream.Held == 2), "both requests held by the upstream");
        Assert.Equal(new[] { 1, 3 }, mesh.Upstream.Requests.Select(r => r.StreamId).Order());
        var old = mesh.Upstream.Connections[0];

        await old.GoAwayAsync(lastStreamId: 3);
        Assert.Equal("c1 /three", await mesh.OkAsync(mesh.Client.GetAsync("/three")));
        Assert.False(old.IsClosed, "the old connection closed with two streams in flight\n" + mesh.Upstream.Log);

        release.SetResult();
        Assert.Equal("c0 /one", await mesh.OkAsync(one));
        Assert.Equal("c0 /two", await mesh.OkAsync(two));
        await Eventually.TrueAsync(() => Task.FromResult(old.IsClosed), "the proxy closed the old connection once its streams were done");
        Assert.True(mesh.Upstream.Requests.Count == 3, "a request went twice\n" + mesh.Upstream.Log);
        Assert.Equal(2, mesh.Upstream.Connections.Count);
    }

    [Fact]
    public async Task A_stream_above_a_GOAWAYs_last_stream_id_goes_again_on_a_new_connection_and_is_answered()
    {
        var release = Gate();
        await using var mesh = await ProxiedUpstream.StartAsync(async r =>
        {
            if (r.Connection.Index == 0 && r.Path == "/second")
                return;             // left unanswered: the GOAWAY below tells the proxy it was never processed
            if (r.Connection.Index == 0)
                await release.Task;
            await r.RespondAsync(200, $"c{r.Connection.Index} {r.Path}");
        });
        // One after the other, so that /first is stream 1 and /second stream 3.
        var first = mesh.Client.GetAsync("/first");
        await Eventually.TrueAsync(() => Task.FromResult(mesh.Upstream.Requests.Count == 1), "/first at the upstream");
        var second = mesh.Client.GetAsync("/second");
        await Eventually.TrueAsync(() => Task.FromResult(mesh.Upstream.Requests.Count == 2), "/second at the upstream");
        Assert.Equal(new[] { (0, 1, "/first"), (0, 3, "/second") }, mesh.Upstream.Requests.Select(r => (r.Connection.Index, r.StreamId, r.Path)));
        var old = mesh.Upstream.Connections[0];

        await old.GoAwayAsync(lastStreamId: 1);
        Assert.Equal("c1 /second", await mesh.OkAsync(second));
        Assert.Equal((1, "/second"), mesh.Upstream.Requests.Select(r => (r.Connection.Index, r.Path)).Last());

        release.SetResult();
        Assert.Equal("c0 /first", await mesh.OkAsync(first));
        await Eventually.TrueAsync(() => Task.FromResult(old.IsClosed), "the proxy closed the old connection once /first was done");
        Assert.True(mesh.Upstream.Requests.Count == 3, mesh.Upstream.Log);
    }

    [Fact]
    public async Task With_an_upstream_limit_of_two_streams_five_requests_held_at_once_take_three_connections_and_none_is_refused()
    {
        var release = Gate();
        await using var mesh = await ProxiedUpstream.StartAsync(async r =>
        {
            await release.Task;
            await r.RespondAsync(200, r.Path);
        }, (SettingsMaxConcurrentStreams, 2));

        var calls = new List<Task<HttpResponseMessage>>();
        for (var i = 0; i < 5; i++)
        {
            calls.Add(mesh.Client.GetAsync("/" + i));
            // Each held before the next goes, and the upstream's SETTINGS acknowledged on every connection (the
            // proxy acts on them before it acknowledges): the pool decides on the limit the upstream gave, not
            // on whether the proxy read the SETTINGS of a connection it just opened before a burst reached it.
            var held = i + 1;
            await Eventually.TrueAsync(() => Task.FromResult(
                (mesh.Upstream.Held == held && mesh.Upstream.Connections.All(c => c.SettingsAcknowledged)) || calls.Any(c => c.IsCompleted)),
                $"request {held} held by the upstream");
        }
        var overLimit = mesh.Upstream.Requests.Where(r => r.OverLimit).Select(r => $"c{r.Connection.Index} s{r.StreamId} {r.Path}").ToList();
        Assert.True(overLimit.Count == 0, $"streams past the upstream's limit of 2, refused: {string.Join(", ", overLimit)}\n{mesh.Upstream.Log}");
        Assert.Equal(new[] { 0, 0, 1, 1, 2 }, mesh.Upstream.Requests.Select(r => r.Connection.Index));

        release.SetResult();
        for (var i = 0; i < calls.Count; i++)
            Assert.Equal("/" + i, await mesh.OkAsync(calls[i]));
        Assert.Equal(3, mesh.Upstream.Connections.Count);
    }

    [Fact]
    public async Task An_upstream_that_sends_two_thousand_PINGs_spread_over_two_and_a_half_seconds_keeps_its_connection()
    {
        await using var mesh = await ProxiedUpstream.StartAsync(r => r.RespondAsync(200, $"c{r.Connection.Index}"));
        Assert.Equal("c0", await mesh.OkAsync(mesh.Client.GetAsync("/before")));
        var connection = mesh.Upstream.Connections[0];

        // Twice the 1000 unproductive frames the proxy takes per heartbeat tick (250 ms), but 80 every 100 ms:
        // about 240 in any tick. A flood count that never started over would end the connection at the 1001st.
        // The delay paces the sender; nothing waits on it for an outcome.
        for (var batch = 0; batch < 25; batch++)
        {
            await connection.SendPingsAsync(80);
            await Task.Delay(100);
        }
        await Eventually.TrueAsync(() => Task.FromResult(connection.PingAcks == 2000 || connection.IsClosed), "every PING acknowledged");
        Assert.True(!connection.IsClosed && connection.GoAwayFromProxy is null,
            $"the proxy ended the connection after {connection.PingAcks} PING ACKs (GOAWAY {connection.GoAwayFromProxy})\n{mesh.Upstream.Log}");

        Assert.Equal("c0", await mesh.OkAsync(mesh.Client.GetAsync("/after")));
        Assert.Single(mesh.Upstream.Connections);
    }

    private static TaskCompletionSource Gate() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private static byte[] Payload(int size)
    {
        var bytes = new byte[size];
        new Random(size).NextBytes(bytes);
        return bytes;
    }

    /// <summary>A proxy whose listener routes every request to one http2 cluster: the scripted upstream.</summary>
    private sealed class ProxiedUpstream : IAsyncDisposable
    {
        private ProxiedUpstream(RawH2Server upstream, TestProxy proxy, int port)
        {
            Upstream = upstream;
            Proxy = proxy;
            Client = TestProxy.Client(port);
            // A request that hangs fails the test in seconds, not after HttpClient's 100.
            Client.Timeout = TimeSpan.FromSeconds(10);
        }

        public RawH2Server Upstream { get; }

        public TestProxy Proxy { get; }

        /// <summary>An HTTP/1.1 client of the listener.</summary>
        public HttpClient Client { get; }

        public static async Task<ProxiedUpstream> StartAsync(Func<RawH2Server.Request, Task> policy, params (ushort Id, uint Value)[] settings)
        {
            var upstream = RawH2Server.Start(policy, settings);
            var proxy = await TestProxy.StartAsync();
            var port = TestProxy.FreePort();
            await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("h2app"))
                .Cluster("h2app", Protocol.Http2, (upstream.Port, "v1")).Build());
            return new ProxiedUpstream(upstream, proxy, port);
        }

        /// <summary>The body of a 200; anything else fails with the frames the upstream saw.</summary>
        public async Task<string> OkAsync(Task<HttpResponseMessage> call)
        {
            using var response = await call;
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode} {Reason(response)}: {body}\n{Upstream.Log}");
            return body;
        }

        public async Task ExpectUpstreamResetAsync(Task<HttpResponseMessage> call)
        {
            using var response = await call;
            Assert.True(response.StatusCode == HttpStatusCode.ServiceUnavailable && Reason(response) == "upstream_reset",
                $"{(int)response.StatusCode} {Reason(response)}\n{Upstream.Log}");
        }

        private static string? Reason(HttpResponseMessage response) =>
            response.Headers.TryGetValues("x-weft-reason", out var values) ? values.Single() : null;

        public async ValueTask DisposeAsync()
        {
            Client.Dispose();
            await Proxy.DisposeAsync();
            await Upstream.DisposeAsync();
        }
    }
}
