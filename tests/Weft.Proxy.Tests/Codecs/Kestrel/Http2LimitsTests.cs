using Weft.Protocol.Discovery;
using System.Diagnostics;
using System.Net;
using Microsoft.AspNetCore.Http;
using Weft.Proxy.Codecs.Kestrel;
using Weft.Proxy.Listeners;
using Weft.Proxy.Tests.Support;

namespace Weft.Proxy.Tests.Codecs.Kestrel;

using static RawH2Client;

/// <summary>
/// HTTP/2 abuse against a listener, over real sockets with a raw frame client: too many streams,
/// reset floods, CONTINUATION floods, oversized header blocks, slow clients. Each case asserts what
/// the abusive connection was told (RST_STREAM, GOAWAY, 431, close), what the app behind the proxy saw
/// of it (nothing, or a bounded number of requests for a reset flood), and that a well-behaved client
/// on another connection is answered meanwhile and after.
/// </summary>
public sealed class Http2LimitsTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private static readonly Http2ListenerLimits Defaults = new();

    [Fact]
    public async Task Settings_advertise_the_limits_and_configured_ones_replace_them()
    {
        await using (var mesh = await Mesh.StartAsync())
        {
            var settings = await ServerSettingsAsync(mesh.Port);
            Assert.Equal(1024u, settings[SettingsMaxConcurrentStreams]);
            Assert.Equal(32u * 1024, settings[SettingsMaxHeaderListSize]);
            Assert.Equal(768u * 1024, settings[SettingsInitialWindowSize]);
            // Absent means the protocol's default, which is what is configured.
            Assert.Equal(4096u, settings.GetValueOrDefault(SettingsHeaderTableSize, 4096u));
            Assert.Equal(16u * 1024, settings.GetValueOrDefault(SettingsMaxFrameSize, 16u * 1024));
        }

        var limits = new Http2ListenerLimits
        {
            MaxConcurrentStreams = 10, MaxHeaderListBytes = 8192, HeaderTableBytes = 1024, MaxFrameBytes = 32 * 1024, StreamWindowBytes = 128 * 1024,
        };
        await using (var mesh = await Mesh.StartAsync(limits))
        {
            var settings = await ServerSettingsAsync(mesh.Port);
            Assert.Equal(10u, settings[SettingsMaxConcurrentStreams]);
            Assert.Equal(8192u, settings[SettingsMaxHeaderListSize]);
            Assert.Equal(1024u, settings[SettingsHeaderTableSize]);
            Assert.Equal(32u * 1024, settings[SettingsMaxFrameSize]);
            Assert.Equal(128u * 1024, settings[SettingsInitialWindowSize]);
        }
    }

    [Fact]
    public async Task Streams_beyond_the_limit_are_refused_and_never_reach_the_app()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // The app holds every request until all have arrived: no request timeout meanwhile, and upstream
        // connections to spare beyond the held ones (the per-endpoint pool limit is not under test).
        await using var mesh = await Mesh.StartAsync(attack: _ => release.Task,
            settings: new ProxySettings { RequestTimeoutMs = 0, MaxUpstreamConnectionsPerEndpoint = 4096 });
        await using var client = await ConnectedAsync(mesh.Port);
        var limit = Defaults.MaxConcurrentStreams;
        const int extra = 16;

        // All at once, knowing the limit: every stream is a request the app holds until released.
        var frames = new List<byte[]>();
        for (var i = 0; i < limit + extra; i++)
            frames.Add(Get(StreamId(i), "/attack"));
        await client.SendAsync(Concat([.. frames]));

        await Eventually.TrueAsync(() => Task.FromResult(client.ResetCount(RefusedStream) == extra && mesh.AttackRequests == limit),
            $"{extra} streams refused and {limit} held by the app", Deadline);
        for (var i = 0; i < limit + extra; i++)
            Assert.Equal(i < limit ? null : (uint?)RefusedStream, client.ResetOf(StreamId(i)));
        // The limit is per connection: another client is served while this one holds all of its streams.
        await GoodClient.AnsweredAsync(mesh.Port);

        release.SetResult();
        await Eventually.TrueAsync(() => Task.FromResult(Enumerable.Range(0, limit).All(i => client.StatusOf(StreamId(i)) == 200 && client.Ended(StreamId(i)))),
            "every accepted stream answered", Deadline);
        var next = StreamId(limit + extra);
        await client.SendAsync(Get(next, "/attack"));
        await Eventually.TrueAsync(() => Task.FromResult(client.StatusOf(next) == 200), "a stream opened after the others finished is served", Deadline);
        Assert.Equal(limit + 1, mesh.AttackRequests);
        Assert.Null(client.GoAway);
    }

    /// <summary>
    /// CVE-2023-44487: each batch of streams reaches the app (which works until cancelled), then is
    /// reset. Every reset frees its slot and Kestrel never sees reset streams pile up, so before the
    /// proxy's reset budget this connection made one app request per stream (5000 here, never closed).
    /// </summary>
    [Fact]
    public async Task Streams_reset_after_reaching_the_app_get_goaway_after_a_bounded_number()
    {
        await using var mesh = await Mesh.StartAsync(attack: context => Task.Delay(Timeout.Infinite, context.RequestAborted));
        await using var good = GoodClient.Start(mesh.Port);
        await using var attacker = await ConnectedAsync(mesh.Port);

        const int flood = 5_000, batch = 50;
        for (var sent = 0; sent < flood && !attacker.Closed && attacker.GoAway is null; sent += batch)
        {
            var ids = Enumerable.Range(sent, batch).Select(StreamId).ToArray();
            await attacker.TrySendAsync(Concat(ids.Select(id => Get(id, "/attack")).ToArray()));
            await Eventually.TrueAsync(() => Task.FromResult(mesh.AttackRequests >= sent + batch || attacker.Closed || attacker.GoAway is not null),
                "the batch reached the app", Deadline);
            await attacker.TrySendAsync(Concat(ids.Select(id => RstStreamFrame(id, Cancel)).ToArray()));
        }

        await Eventually.TrueAsync(() => Task.FromResult(attacker.Closed), "connection closed", Deadline);
        Assert.Equal(NoError, attacker.GoAway?.ErrorCode);
        // The budget trips at the stream limit; what was in flight then (at most the limit again) may still arrive.
        Assert.InRange(mesh.AttackRequests, Defaults.MaxConcurrentStreams, 2 * Defaults.MaxConcurrentStreams);
        await Eventually.TrueAsync(async () => (await mesh.Proxy.MetricsAsync()).Contains($"weft_http2_reset_flood_closed_total{{listener_port=\"{mesh.Port}\"}} 1"),
            "the flood counted", Deadline);
        await good.StopAsync();
    }

    /// <summary>
    /// Rapid reset as attack tools send it, against an app that works until cancelled. Whichever guard
    /// gets there first ends the connection: the proxy's reset budget (GOAWAY) or Kestrel's own
    /// (ENHANCE_YOUR_CALM, then an abort when reset streams pile up unfinished or its output queue overflows).
    /// </summary>
    [Theory]
    [InlineData("HEADERS and RST_STREAM back to back", false, 1)]
    [InlineData("RST_STREAM a moment after the HEADERS", true, 1)]
    [InlineData("back to back at full speed", false, 0)]
    public async Task Rapid_reset_flood_is_cut_and_the_app_sees_a_bounded_number(string what, bool resetLater, int pauseMs)
    {
        await using var mesh = await Mesh.StartAsync(attack: context => Task.Delay(Timeout.Infinite, context.RequestAborted));
        await using var good = GoodClient.Start(mesh.Port);
        await using var attacker = await ConnectedAsync(mesh.Port);

        const int flood = 20_000, batch = 100;
        var sent = 0;
        while (sent < flood && attacker.GoAway is null && !attacker.Closed)
        {
            var opens = new List<byte[]>();
            var resets = new List<byte[]>();
            for (var i = 0; i < batch; i++)
            {
                var id = StreamId(sent + i);
                opens.Add(Get(id, "/attack"));
                (resetLater ? resets : opens).Add(RstStreamFrame(id, Cancel));
            }
            if (!await attacker.TrySendAsync(Concat([.. opens])))
                break;
            if (resetLater)
            {
                await Task.Delay(1);
                if (!await attacker.TrySendAsync(Concat([.. resets])))
                    break;
            }
            sent += batch;
            if (pauseMs > 0)
                await Task.Delay(pauseMs);
        }

        await Eventually.TrueAsync(() => Task.FromResult(attacker.Closed), what + ": connection closed", Deadline);
        Assert.True(attacker.GoAway is not null || attacker.Reset, what + ": closed with neither GOAWAY nor reset");
        // At full speed the whole flood may sit in socket buffers before the cut; paced, it cannot.
        if (pauseMs > 0)
            Assert.True(sent < flood, $"{what}: all {flood} streams were sent before the cut");
        // Kestrel tracks at most twice the stream limit unfinished; the budget trips at the limit and aborts at twice it.
        Assert.True(mesh.AttackRequests <= 4 * Defaults.MaxConcurrentStreams, $"{what}: the app saw {mesh.AttackRequests} requests");
        await good.StopAsync();
    }

    [Fact]
    public async Task A_client_that_cancels_a_third_of_its_calls_keeps_its_connection()
    {
        await using var mesh = await Mesh.StartAsync(attack: context => Task.Delay(Timeout.Infinite, context.RequestAborted));
        await using var client = await ConnectedAsync(mesh.Port);

        // Rounds of two answered calls and one cancelled a moment after it reached the app: more
        // premature resets than may be reset at once (the stream limit), but a third of all streams.
        var rounds = Defaults.MaxConcurrentStreams + 100;
        var id = 1;
        for (var round = 0; round < rounds; round++)
        {
            int ok1 = id, ok2 = id + 2, cancelled = id + 4;
            id += 6;
            await client.SendAsync(Concat(Get(ok1, "/ok"), Get(ok2, "/ok"), Get(cancelled, "/attack")));
            await Eventually.TrueAsync(() => Task.FromResult(client.Ended(ok1) && client.Ended(ok2) && mesh.AttackRequests == round + 1),
                "round " + round, Deadline);
            await client.SendAsync(RstStreamFrame(cancelled, Cancel));
        }

        await client.SendAsync(Get(id, "/ok"));
        await Eventually.TrueAsync(() => Task.FromResult(client.StatusOf(id) == 200), "still served", Deadline);
        Assert.Null(client.GoAway);
        Assert.False(client.Closed);
        Assert.Contains("weft_http2_reset_flood_closed_total", await mesh.Proxy.MetricsAsync());
        Assert.DoesNotContain("weft_http2_reset_flood_closed_total{", await mesh.Proxy.MetricsAsync());
    }

    public static TheoryData<string, uint> ContinuationFloods => new()
    {
        { "fields of 4 KB, past twice the header list", ProtocolError },
        { "one field that never ends, past the list", CompressionError },
        { "tiny indexed fields, past the field count", ProtocolError },
    };

    /// <summary>CVE-2024-27316 style: a header block that never ends must not grow without bound nor reach the app.</summary>
    [Theory]
    [MemberData(nameof(ContinuationFloods))]
    public async Task Continuation_flood_past_a_header_limit_gets_goaway_and_reaches_nothing(string what, uint error)
    {
        await using var mesh = await Mesh.StartAsync();
        await using var good = GoodClient.Start(mesh.Port);
        await using var attacker = await ConnectedAsync(mesh.Port);

        var head = new List<byte>(RequestBlock("/attack"));
        var field = new List<byte>();
        if (error == CompressionError)
        {
            LiteralStart(head, "x-flood", 1 << 20);
            field.AddRange(Enumerable.Repeat((byte)'a', 16 * 1024));
        }
        else if (what.StartsWith("tiny", StringComparison.Ordinal))
        {
            Indexed(field, 16);                              // accept-encoding: gzip, deflate
        }
        else
        {
            Literal(field, "x-flood", new string('a', 4096));
        }
        await attacker.SendAsync(Frame(Headers, EndStream, 1, [.. head]));
        await FloodAsync(attacker, Frame(Continuation, 0, 1, [.. field]));

        await Eventually.TrueAsync(() => Task.FromResult(attacker.Closed), what + ": connection closed", Deadline);
        Assert.Equal(error, attacker.GoAway?.ErrorCode);
        await good.StopAsync();
        Assert.Equal(0, mesh.AttackRequests);
    }

    /// <summary>Empty frames cost the attacker nothing and the server a frame's work each: a flood is cut at once.</summary>
    [Fact]
    public async Task Empty_continuation_flood_gets_enhance_your_calm_at_once()
    {
        await using var mesh = await Mesh.StartAsync(settings: new ProxySettings { RequestHeadersTimeoutMs = 10_000 });
        await using var good = GoodClient.Start(mesh.Port);
        await using var attacker = await ConnectedAsync(mesh.Port);

        var started = Stopwatch.GetTimestamp();
        await attacker.SendAsync(Frame(Headers, EndStream, 1, RequestBlock("/attack")));
        await FloodAsync(attacker, Frame(Continuation, 0, 1, []));

        await Eventually.TrueAsync(() => Task.FromResult(attacker.Closed), "connection closed", Deadline);
        var lasted = Stopwatch.GetElapsedTime(started, attacker.ClosedAt);
        Assert.True(lasted < TimeSpan.FromSeconds(5), $"closed after {lasted}: the headers timeout cut it, not the flood guard");
        Assert.Equal(EnhanceYourCalm, attacker.GoAway?.ErrorCode);
        await good.StopAsync();
        Assert.Equal(0, mesh.AttackRequests);
    }

    /// <summary>Empty CONTINUATION frames dribbled below any flood rate: the headers timeout still ends the block.</summary>
    [Fact]
    public async Task Empty_continuation_frames_without_end_are_cut_at_the_headers_timeout()
    {
        await using var mesh = await Mesh.StartAsync(settings: new ProxySettings { RequestHeadersTimeoutMs = 2000 });
        await using var good = GoodClient.Start(mesh.Port);
        await using var attacker = await ConnectedAsync(mesh.Port);

        var started = Stopwatch.GetTimestamp();
        await attacker.SendAsync(Frame(Headers, EndStream, 1, RequestBlock("/attack")));
        var frame = Frame(Continuation, 0, 1, []);
        while (!attacker.Closed && Stopwatch.GetElapsedTime(started) < Deadline && await attacker.TrySendAsync(frame))
            await Task.Delay(20);

        await Eventually.TrueAsync(() => Task.FromResult(attacker.Closed), "connection closed", Deadline);
        var lasted = Stopwatch.GetElapsedTime(started, attacker.ClosedAt);
        Assert.True(lasted >= TimeSpan.FromSeconds(1.5), $"closed after {lasted}, before the timeout");
        Assert.Equal(InternalError, attacker.GoAway?.ErrorCode);
        await good.StopAsync();
        Assert.Equal(0, mesh.AttackRequests);
    }

    /// <summary>
    /// CVE-2019-9512 (PING), -9515 (SETTINGS), -9518 (empty frames), and frames a server ignores: each
    /// costs the attacker nothing and the server a frame's work (and, for PING and SETTINGS, an answer to
    /// write). A flood of any of them is cut with ENHANCE_YOUR_CALM; other clients are served meanwhile.
    /// </summary>
    [Theory]
    [InlineData("PING")]
    [InlineData("SETTINGS")]
    [InlineData("empty DATA on an open stream")]
    [InlineData("PRIORITY")]
    [InlineData("an unknown frame type")]
    public async Task Frame_flood_gets_enhance_your_calm(string what)
    {
        await using var mesh = await Mesh.StartAsync(attack: context => Task.Delay(Timeout.Infinite, context.RequestAborted));
        await using var good = GoodClient.Start(mesh.Port);
        await using var attacker = await ConnectedAsync(mesh.Port);

        var frame = what switch
        {
            "PING" => Frame(Ping, 0, 0, new byte[8]),
            "SETTINGS" => Frame(Settings, 0, 0, []),
            "empty DATA on an open stream" => Frame(Data, 0, 1, []),
            "PRIORITY" => Frame(Priority, 0, 1, [0, 0, 0, 0, 16]),
            _ => Frame(0x20, 0, 0, []),
        };
        if (what.StartsWith("empty DATA", StringComparison.Ordinal))
        {
            await attacker.SendAsync(Frame(Headers, EndHeaders, 1, RequestBlock("/attack")));
            await Eventually.TrueAsync(() => Task.FromResult(mesh.AttackRequests == 1), "the stream reached the app", Deadline);
        }
        var started = Stopwatch.GetTimestamp();
        await FloodAsync(attacker, frame);

        await Eventually.TrueAsync(() => Task.FromResult(attacker.Closed), what + ": connection closed", Deadline);
        Assert.Equal(EnhanceYourCalm, attacker.GoAway?.ErrorCode);
        var lasted = Stopwatch.GetElapsedTime(started, attacker.ClosedAt);
        Assert.True(lasted < TimeSpan.FromSeconds(5), $"{what}: cut after {lasted}");
        await GoodClient.AnsweredAsync(mesh.Port);
        await good.StopAsync();
    }

    /// <summary>Sends <paramref name="frame"/> a hundred at a time until the server closes the connection (or the deadline).</summary>
    private static async Task FloodAsync(RawH2Client attacker, byte[] frame)
    {
        var frames = Concat(Enumerable.Repeat(frame, 100).ToArray());
        var started = Stopwatch.StartNew();
        while (!attacker.Closed && started.Elapsed < Deadline && await attacker.TrySendAsync(frames))
            await Task.Delay(1);
    }

    public static TheoryData<string> OverLimitBlocks => new()
    {
        "a 4 KB field entered in the dynamic table and named ten times: 40 KB",
        "one field more than the field count",
    };

    /// <summary>Over a limit but within Kestrel's grace (twice the list, the field count): 431 on that stream only.</summary>
    [Theory]
    [MemberData(nameof(OverLimitBlocks))]
    public async Task Header_block_over_a_limit_gets_431_and_the_connection_goes_on(string what)
    {
        await using var mesh = await Mesh.StartAsync();
        await using var client = await ConnectedAsync(mesh.Port);

        var block = what.StartsWith("one field", StringComparison.Ordinal) ? ManyFieldsBlock(Defaults.MaxHeaderCount + 1) : DynamicTableBlock(references: 9);
        await client.SendAsync(Frame(Headers, EndHeaders | EndStream, 1, block));
        await Eventually.TrueAsync(() => Task.FromResult(client.Ended(1)), what + ": an answer on stream 1", Deadline);
        Assert.Equal(431, client.StatusOf(1));

        await client.SendAsync(Get(3, "/ok"));
        await Eventually.TrueAsync(() => Task.FromResult(client.StatusOf(3) == 200), what + ": the next stream is served", Deadline);
        Assert.Null(client.GoAway);
        Assert.Equal(0, mesh.AttackRequests);
        Assert.Equal(1, mesh.App.Requests);
    }

    public static TheoryData<string, uint> OversizedBlocks => new()
    {
        { "HPACK bomb: a 4 KB entry named twenty times, past twice the list", ProtocolError },
        { "a HEADERS frame larger than the max frame size", FrameSizeError },
    };

    [Theory]
    [MemberData(nameof(OversizedBlocks))]
    public async Task Oversized_header_block_in_one_frame_gets_goaway_and_reaches_nothing(string what, uint error)
    {
        await using var mesh = await Mesh.StartAsync();
        await using var client = await ConnectedAsync(mesh.Port);

        byte[] block;
        if (error == FrameSizeError)
        {
            var big = new List<byte>(RequestBlock("/attack"));
            Literal(big, "x-big", new string('a', 20 * 1024));
            block = [.. big];
        }
        else
        {
            block = DynamicTableBlock(references: 19);
        }
        await client.SendAsync(Frame(Headers, EndHeaders | EndStream, 1, block));

        await Eventually.TrueAsync(() => Task.FromResult(client.Closed), what + ": connection closed", Deadline);
        Assert.Equal(error, client.GoAway?.ErrorCode);
        Assert.Equal(0, mesh.App.Requests);
        await GoodClient.AnsweredAsync(mesh.Port);
    }

    /// <summary>
    /// A reader that never opens its window for an answer holds the stream (and the app's upstream) for
    /// nothing: the stream is reset after the HTTP idle timeout; the connection and its other streams go on.
    /// </summary>
    [Fact]
    public async Task A_reader_that_never_opens_its_window_has_its_stream_reset_after_the_idle_timeout()
    {
        await using var mesh = await Mesh.StartAsync(settings: new ProxySettings { HttpIdleTimeoutMs = 2000 });
        await using var client = await RawH2Client.ConnectAsync(mesh.Port, streamWindow: 0);

        var started = Stopwatch.GetTimestamp();
        await client.SendAsync(Get(1, "/attack"));
        await Eventually.TrueAsync(() => Task.FromResult(client.ResetOf(1) is not null), "the stuck stream reset", Deadline);
        var lasted = Stopwatch.GetElapsedTime(started);
        Assert.Equal(Cancel, client.ResetOf(1));
        Assert.Equal(200, client.StatusOf(1));
        Assert.Equal(0, client.BodyLengthOf(1));
        Assert.True(lasted >= TimeSpan.FromSeconds(1.5), $"reset after {lasted}, before the idle timeout");

        // A stream whose reader opens its window is served on the same connection.
        await client.SendAsync(Get(3, "/attack"));
        await client.GrantAsync(3, 1024);
        await Eventually.TrueAsync(() => Task.FromResult(client.Ended(3)), "the next stream answered", Deadline);
        Assert.Equal("ok", client.BodyOf(3));
        Assert.False(client.Closed);
    }

    public static TheoryData<string> SlowClients => new() { "the preface only", "half a frame", "HEADERS without END_HEADERS" };

    [Theory]
    [MemberData(nameof(SlowClients))]
    public async Task Slow_clients_are_cut_after_the_timeout_and_block_no_one(string what)
    {
        await using var mesh = await Mesh.StartAsync(settings: new ProxySettings { RequestHeadersTimeoutMs = 3000, HttpIdleTimeoutMs = 3000 });

        var started = Stopwatch.GetTimestamp();
        var slow = new List<RawH2Client>();
        for (var i = 0; i < 20; i++)
        {
            var client = what == "the preface only" ? await RawH2Client.ConnectAsync(mesh.Port, greet: false) : await ConnectedAsync(mesh.Port);
            slow.Add(client);
            if (what == "the preface only")
                await client.SendAsync(Preface);
            else if (what == "half a frame")
                await client.SendAsync(Get(1, "/attack")[..12]);
            else
                await client.SendAsync(Frame(Headers, EndStream, 1, RequestBlock("/attack")));
        }
        try
        {
            await GoodClient.AnsweredAsync(mesh.Port);
            await Eventually.TrueAsync(() => Task.FromResult(slow.All(c => c.Closed)), what + ": every slow connection closed", Deadline);
            // Closed by the timeout (3 s, checked once a second), not at once.
            var earliest = slow.Min(c => Stopwatch.GetElapsedTime(started, c.ClosedAt));
            Assert.True(earliest >= TimeSpan.FromSeconds(2), $"{what}: closed after {earliest}");
            Assert.Equal(0, mesh.AttackRequests);
            await GoodClient.AnsweredAsync(mesh.Port);
        }
        finally
        {
            foreach (var client in slow)
                await client.DisposeAsync();
        }
    }

    private static int StreamId(int index) => 2 * index + 1;

    private static async Task<RawH2Client> ConnectedAsync(int port)
    {
        var client = await RawH2Client.ConnectAsync(port);
        await Eventually.TrueAsync(() => Task.FromResult(client.ServerSettings is not null), "the server's SETTINGS", Deadline);
        return client;
    }

    private static async Task<IReadOnlyDictionary<ushort, uint>> ServerSettingsAsync(int port)
    {
        await using var client = await ConnectedAsync(port);
        return client.ServerSettings!;
    }

    /// <summary>GET /attack plus <paramref name="fields"/> small fields.</summary>
    private static byte[] ManyFieldsBlock(int fields)
    {
        var block = new List<byte>(RequestBlock("/attack"));
        for (var i = 0; i < fields; i++)
            Literal(block, "x-" + i, "v");
        return [.. block];
    }

    /// <summary>GET /attack plus a 4 KB field entered in the dynamic table and named again <paramref name="references"/> times.</summary>
    private static byte[] DynamicTableBlock(int references)
    {
        var block = new List<byte>(RequestBlock("/attack"));
        LiteralIndexed(block, "x-big", new string('a', 4000));
        for (var i = 0; i < references; i++)
            Indexed(block, 62);
        return [.. block];
    }

    /// <summary>An h2c client on its own connection (HttpClient), as a well-behaved neighbour of an attack.</summary>
    private sealed class GoodClient : IAsyncDisposable
    {
        private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(20);
        private readonly HttpClient _client;
        private readonly CancellationTokenSource _stop = new();
        private readonly Task<int> _loop;

        private GoodClient(int port)
        {
            _client = TestProxy.Client(port);
            _loop = Task.Run(LoopAsync);
        }

        /// <summary>Asks GET /ok over and over until stopped: each must be answered 200 "ok" in time.</summary>
        public static GoodClient Start(int port) => new(port);

        /// <summary>One answered request, on a connection of its own.</summary>
        public static async Task AnsweredAsync(int port)
        {
            using var client = TestProxy.Client(port);
            await AskAsync(client);
        }

        /// <summary>Ends the loop (rethrowing what failed in it) and asks once more: served during and after.</summary>
        public async Task StopAsync()
        {
            _stop.Cancel();
            await _loop;
            await AskAsync(_client);
        }

        private async Task<int> LoopAsync()
        {
            var answered = 0;
            while (!_stop.IsCancellationRequested)
            {
                await AskAsync(_client);
                answered++;
            }
            return answered;
        }

        private static async Task AskAsync(HttpClient client)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/ok")
            {
                Version = HttpVersion.Version20,
                VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            };
            using var response = await client.SendAsync(request).WaitAsync(RequestTimeout);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("ok", await response.Content.ReadAsStringAsync().WaitAsync(RequestTimeout));
        }

        public async ValueTask DisposeAsync()
        {
            _stop.Cancel();
            try { await _loop; } catch (Exception) { }
            _client.Dispose();
        }
    }

    /// <summary>An app behind a proxy with one HTTP listener. Requests to /attack are counted, then handled by the test's handler.</summary>
    private sealed class Mesh : IAsyncDisposable
    {
        private int _attackRequests;

        private Mesh(Backend app, TestProxy proxy, int port)
        {
            App = app;
            Proxy = proxy;
            Port = port;
        }

        public Backend App { get; }
        public TestProxy Proxy { get; }
        public int Port { get; }

        /// <summary>Requests to /attack... that reached the app.</summary>
        public int AttackRequests => Volatile.Read(ref _attackRequests);

        public static async Task<Mesh> StartAsync(Http2ListenerLimits? limits = null, Func<HttpContext, Task>? attack = null, ProxySettings? settings = null)
        {
            Mesh? self = null;
            var app = await Backend.StartAsync("app", async context =>
            {
                if (context.Request.Path.StartsWithSegments("/attack"))
                {
                    Interlocked.Increment(ref self!._attackRequests);
                    if (attack is not null)
                        await attack(context);
                }
                await context.Response.WriteAsync("ok");
            });
            var proxy = await TestProxy.StartAsync(options: new ProxyHostOptions
            {
                ListenerDrainTimeout = TimeSpan.FromSeconds(10),
                Http2Limits = limits ?? Defaults,
            });
            var port = TestProxy.FreePort();
            await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("app")).Cluster("app", app.Port)
                .Settings(settings).Build());
            self = new Mesh(app, proxy, port);
            return self;
        }

        public async ValueTask DisposeAsync()
        {
            await Proxy.DisposeAsync();
            await App.DisposeAsync();
        }
    }
}
