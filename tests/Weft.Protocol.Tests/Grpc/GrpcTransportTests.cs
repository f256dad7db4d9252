using System.Net;
using System.Net.Sockets;
using Google.Protobuf;
using Weft.Protocol.Grpc;
using Weft.Protocol.Shop;

namespace Weft.Protocol.Tests.Grpc;

/// <summary>Our client against our server over a real Kestrel socket.</summary>
public sealed class GrpcTransportTests : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);
    private readonly EchoService _echo = new();
    private KestrelHost _host = null!;
    private GrpcChannel _channel = null!;

    public async Task InitializeAsync()
    {
        var server = new GrpcServer { MaxReceiveMessageSize = 2 * 1024 * 1024 };
        _echo.Register(server);
        (_host, _channel) = await KestrelHost.StartGrpcAsync(server);
    }

    public async Task DisposeAsync()
    {
        _channel.Dispose();
        await _host.DisposeAsync();
    }

    [Fact]
    public async Task Unary_round_trips_the_message()
    {
        EchoMessage reply = await _channel.UnaryAsync(EchoMethods.Unary, new EchoMessage { Text = "hello" }).WaitAsync(Patience);
        Assert.Equal("hello", reply.Text);
    }

    [Fact]
    public async Task Unary_custom_metadata_reaches_the_handler()
    {
        var headers = new Dictionary<string, string> { ["x-echo"] = "meta-value" };
        EchoMessage reply = await _channel.UnaryAsync(EchoMethods.Unary, new EchoMessage { Text = "h" }, new CallOptions(Headers: headers)).WaitAsync(Patience);
        Assert.Equal("h|meta-value", reply.Text);
    }

    [Fact]
    public async Task Unary_error_status_and_message_reach_the_client_verbatim()
    {
        const string text = "naïve 100% ✓\nline";
        var ex = await Assert.ThrowsAsync<RpcException>(() =>
            _channel.UnaryAsync(EchoMethods.Unary, new EchoMessage { Text = text, FailCode = (int)StatusCode.PermissionDenied }).WaitAsync(Patience));
        Assert.Equal(StatusCode.PermissionDenied, ex.StatusCode);
        Assert.Equal("failed: " + text, ex.Status.Detail);
    }

    [Fact]
    public async Task Handler_exception_becomes_unknown_without_leaking_details()
    {
        var ex = await Assert.ThrowsAsync<RpcException>(() =>
            _channel.UnaryAsync(EchoMethods.Unary, new EchoMessage { FailCode = -1 }).WaitAsync(Patience));
        Assert.Equal(StatusCode.Unknown, ex.StatusCode);
        Assert.DoesNotContain("secret", ex.Status.Detail);
    }

    [Fact]
    public async Task Unknown_method_is_unimplemented()
    {
        var missing = new Method<EchoMessage, EchoMessage>("shop.v1.Echo", "Nope", MethodType.Unary, EchoMessage.Parser, EchoMessage.Parser);
        var ex = await Assert.ThrowsAsync<RpcException>(() => _channel.UnaryAsync(missing, new EchoMessage()).WaitAsync(Patience));
        Assert.Equal(StatusCode.Unimplemented, ex.StatusCode);
        Assert.Contains("/shop.v1.Echo/Nope", ex.Status.Detail);
    }

    [Fact]
    public async Task Server_streaming_delivers_every_message_then_ok()
    {
        await using IStreamingCall<EchoMessage, EchoMessage> call = _channel.ServerStreaming(EchoMethods.ServerStream, new EchoMessage { Text = "s", Repeat = 5 });
        var texts = new List<string>();
        while (await call.ResponseStream.ReadAsync().AsTask().WaitAsync(Patience) is { } m)
        {
            texts.Add(m.Text);
        }
        Assert.Equal(["s-0", "s-1", "s-2", "s-3", "s-4"], texts);
        Assert.Equal(StatusCode.OK, (await call.StatusAsync.WaitAsync(Patience)).Code);
    }

    [Fact]
    public async Task Server_streaming_error_after_messages_arrives_in_trailers()
    {
        await using var call = _channel.ServerStreaming(EchoMethods.ServerStream, new EchoMessage { Text = "s", Repeat = 2, FailCode = (int)StatusCode.Aborted });
        Assert.Equal("s-0", (await call.ResponseStream.ReadAsync().AsTask().WaitAsync(Patience))!.Text);
        Assert.Equal("s-1", (await call.ResponseStream.ReadAsync().AsTask().WaitAsync(Patience))!.Text);
        var ex = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.ReadAsync().AsTask().WaitAsync(Patience));
        Assert.Equal(StatusCode.Aborted, ex.StatusCode);
        Assert.Equal(new Status(StatusCode.Aborted, "failed: s"), await call.StatusAsync.WaitAsync(Patience));
    }

    [Fact]
    public async Task Client_streaming_sends_all_requests_and_gets_one_reply()
    {
        await using var call = _channel.ClientStreaming(EchoMethods.ClientStream);
        foreach (string t in new[] { "a", "b", "c" })
        {
            await call.RequestStream.WriteAsync(new EchoMessage { Text = t }).AsTask().WaitAsync(Patience);
        }
        await call.RequestStream.CompleteAsync();
        EchoMessage? reply = await call.ResponseStream.ReadAsync().AsTask().WaitAsync(Patience);
        Assert.Equal("a,b,c", reply!.Text);
        Assert.Equal(3, reply.Repeat);
        Assert.Null(await call.ResponseStream.ReadAsync().AsTask().WaitAsync(Patience));
        Assert.Equal(StatusCode.OK, (await call.StatusAsync).Code);
    }

    [Fact]
    public async Task Duplex_answers_each_request_before_the_next_is_sent()
    {
        await using var call = _channel.DuplexStreaming(EchoMethods.Bidi);
        for (int i = 0; i < 10; i++)
        {
            // Ping-pong proves the request body stays open while responses are read.
            await call.RequestStream.WriteAsync(new EchoMessage { Text = "m" + i }).AsTask().WaitAsync(Patience);
            EchoMessage? reply = await call.ResponseStream.ReadAsync().AsTask().WaitAsync(Patience);
            Assert.Equal("m" + i, reply!.Text);
        }
        await call.RequestStream.CompleteAsync();
        Assert.Null(await call.ResponseStream.ReadAsync().AsTask().WaitAsync(Patience));
        Assert.Equal(StatusCode.OK, (await call.StatusAsync.WaitAsync(Patience)).Code);
    }

    [Fact]
    public async Task Duplex_error_from_handler_fails_the_reader()
    {
        await using var call = _channel.DuplexStreaming(EchoMethods.Bidi);
        await call.RequestStream.WriteAsync(new EchoMessage { Text = "ok" });
        Assert.Equal("ok", (await call.ResponseStream.ReadAsync().AsTask().WaitAsync(Patience))!.Text);
        await call.RequestStream.WriteAsync(new EchoMessage { Text = "bad", FailCode = (int)StatusCode.InvalidArgument });
        var ex = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.ReadAsync().AsTask().WaitAsync(Patience));
        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
    }

    [Fact]
    public async Task Client_deadline_gives_deadline_exceeded_and_server_token_fires()
    {
        // Long enough that the call surely reaches the handler first, even on a loaded machine.
        DateTimeOffset deadline = DateTimeOffset.UtcNow.AddMilliseconds(1500);
        Task<EchoMessage> pending = _channel.UnaryAsync(EchoMethods.Unary, new EchoMessage { DelayMs = 60_000 }, new CallOptions(Deadline: deadline));
        await _echo.CallWaiting.Task.WaitAsync(Patience);
        var ex = await Assert.ThrowsAsync<RpcException>(() => pending.WaitAsync(Patience));
        Assert.Equal(StatusCode.DeadlineExceeded, ex.StatusCode);
        await _echo.CancellationSeen.Task.WaitAsync(Patience);
        // grpc-timeout carried the deadline to the server (allowing for clock granularity and transit).
        Assert.NotNull(_echo.LastDeadline);
        Assert.InRange(_echo.LastDeadline!.Value, deadline.AddSeconds(-1), deadline.AddSeconds(1));
    }

    [Fact]
    public async Task Far_away_deadline_is_sent_and_the_call_succeeds()
    {
        EchoMessage reply = await _channel.UnaryAsync(EchoMethods.Unary, new EchoMessage { Text = "far" },
            new CallOptions(Deadline: DateTimeOffset.MaxValue)).WaitAsync(Patience);
        Assert.Equal("far", reply.Text);
        Assert.True(_echo.LastDeadline > DateTimeOffset.UtcNow.AddYears(1));
    }

    [Fact]
    public async Task Deadline_already_passed_fails_without_calling_the_server()
    {
        var ex = await Assert.ThrowsAsync<RpcException>(() =>
            _channel.UnaryAsync(EchoMethods.Unary, new EchoMessage { Text = "x" }, new CallOptions(Deadline: DateTimeOffset.UtcNow.AddSeconds(-1))).WaitAsync(Patience));
        Assert.Equal(StatusCode.DeadlineExceeded, ex.StatusCode);
        Assert.Null(_echo.LastDeadline);
    }

    [Fact]
    public async Task Client_cancellation_token_cancels_the_call_and_the_server_sees_it()
    {
        using var cts = new CancellationTokenSource();
        Task<EchoMessage> pending = _channel.UnaryAsync(EchoMethods.Unary, new EchoMessage { DelayMs = 60_000 }, new CallOptions(CancellationToken: cts.Token));
        await _echo.CallWaiting.Task.WaitAsync(Patience);
        cts.Cancel();
        var ex = await Assert.ThrowsAsync<RpcException>(() => pending.WaitAsync(Patience));
        Assert.Equal(StatusCode.Cancelled, ex.StatusCode);
        await _echo.CancellationSeen.Task.WaitAsync(Patience); // RST_STREAM reached Kestrel: RequestAborted fired
    }

    [Fact]
    public async Task Cancel_on_a_streaming_call_ends_it_with_cancelled_on_both_sides()
    {
        await using var call = _channel.DuplexStreaming(EchoMethods.Bidi);
        await call.RequestStream.WriteAsync(new EchoMessage { DelayMs = 60_000 });
        await _echo.CallWaiting.Task.WaitAsync(Patience);
        Task<EchoMessage?> read = call.ResponseStream.ReadAsync().AsTask();
        call.Cancel();
        var ex = await Assert.ThrowsAsync<RpcException>(() => read.WaitAsync(Patience));
        Assert.Equal(StatusCode.Cancelled, ex.StatusCode);
        Assert.Equal(StatusCode.Cancelled, (await call.StatusAsync.WaitAsync(Patience)).Code);
        await _echo.CancellationSeen.Task.WaitAsync(Patience);
        await Assert.ThrowsAsync<RpcException>(() => call.RequestStream.WriteAsync(new EchoMessage()).AsTask());
    }

    [Fact]
    public async Task Server_cancelled_status_reaches_the_client()
    {
        var ex = await Assert.ThrowsAsync<RpcException>(() =>
            _channel.UnaryAsync(EchoMethods.Unary, new EchoMessage { Text = "c", FailCode = (int)StatusCode.Cancelled }).WaitAsync(Patience));
        Assert.Equal(StatusCode.Cancelled, ex.StatusCode);
        Assert.Equal("failed: c", ex.Status.Detail);
    }

    [Fact]
    public async Task Large_messages_round_trip_in_both_directions()
    {
        byte[] payload = new byte[1024 * 1024];
        new Random(42).NextBytes(payload);
        EchoMessage reply = await _channel.UnaryAsync(EchoMethods.Unary, new EchoMessage { Payload = ByteString.CopyFrom(payload) }).WaitAsync(Patience);
        Assert.True(reply.Payload.Span.SequenceEqual(payload));

        await using var call = _channel.DuplexStreaming(EchoMethods.Bidi);
        for (int i = 0; i < 3; i++)
        {
            await call.RequestStream.WriteAsync(new EchoMessage { Text = "big" + i, Payload = ByteString.CopyFrom(payload) });
            EchoMessage? echoed = await call.ResponseStream.ReadAsync().AsTask().WaitAsync(Patience);
            Assert.Equal("big" + i, echoed!.Text);
            Assert.Equal(payload.Length, echoed.Payload.Length);
        }
        await call.RequestStream.CompleteAsync();
        Assert.Null(await call.ResponseStream.ReadAsync().AsTask().WaitAsync(Patience));
    }

    [Fact]
    public async Task Server_rejects_a_request_over_its_max_receive_size()
    {
        var big = new EchoMessage { Payload = ByteString.CopyFrom(new byte[3 * 1024 * 1024]) };
        var ex = await Assert.ThrowsAsync<RpcException>(() => _channel.UnaryAsync(EchoMethods.Unary, big).WaitAsync(Patience));
        Assert.Equal(StatusCode.ResourceExhausted, ex.StatusCode);
    }

    [Fact]
    public async Task Client_rejects_a_response_over_its_max_receive_size()
    {
        using var small = new GrpcChannel(_host.Address, maxReceiveMessageSize: 1024);
        var ex = await Assert.ThrowsAsync<RpcException>(() =>
            small.UnaryAsync(EchoMethods.Unary, new EchoMessage { Payload = ByteString.CopyFrom(new byte[4096]) }).WaitAsync(Patience));
        Assert.Equal(StatusCode.ResourceExhausted, ex.StatusCode);
        // The channel stays usable for calls within the limit.
        Assert.Equal("ok", (await small.UnaryAsync(EchoMethods.Unary, new EchoMessage { Text = "ok" }).WaitAsync(Patience)).Text);
    }

    [Fact]
    public async Task Many_concurrent_calls_share_one_channel()
    {
        var calls = new Task<EchoMessage>[300];
        for (int i = 0; i < calls.Length; i++)
        {
            calls[i] = _channel.UnaryAsync(EchoMethods.Unary, new EchoMessage { Text = "n" + i });
        }
        EchoMessage[] replies = await Task.WhenAll(calls).WaitAsync(TimeSpan.FromSeconds(30));
        for (int i = 0; i < replies.Length; i++)
        {
            Assert.Equal("n" + i, replies[i].Text);
        }
    }

    [Fact]
    public async Task More_open_streams_than_one_connection_allows_all_make_progress()
    {
        // Kestrel allows 100 concurrent streams per connection; the channel must open another one.
        var calls = new IStreamingCall<EchoMessage, EchoMessage>[150];
        try
        {
            for (int i = 0; i < calls.Length; i++)
            {
                calls[i] = _channel.DuplexStreaming(EchoMethods.Bidi);
                await calls[i].RequestStream.WriteAsync(new EchoMessage { Text = "open" + i }).AsTask().WaitAsync(Patience);
                Assert.Equal("open" + i, (await calls[i].ResponseStream.ReadAsync().AsTask().WaitAsync(Patience))!.Text);
            }
            foreach (var call in calls)
            {
                await call.RequestStream.CompleteAsync();
                Assert.Null(await call.ResponseStream.ReadAsync().AsTask().WaitAsync(Patience));
            }
        }
        finally
        {
            foreach (var call in calls)
            {
                if (call is not null)
                {
                    await call.DisposeAsync();
                }
            }
        }
    }

    [Fact]
    public async Task Server_refuses_to_send_over_its_max_send_size()
    {
        var server = new GrpcServer { MaxSendMessageSize = 1024 };
        new EchoService().Register(server);
        (KestrelHost host, GrpcChannel channel) = await KestrelHost.StartGrpcAsync(server);
        await using (host)
        using (channel)
        {
            var ex = await Assert.ThrowsAsync<RpcException>(() =>
                channel.UnaryAsync(EchoMethods.Unary, new EchoMessage { Payload = ByteString.CopyFrom(new byte[4096]) }).WaitAsync(Patience));
            Assert.Equal(StatusCode.ResourceExhausted, ex.StatusCode);
        }
    }

    [Fact]
    public async Task Connection_failure_is_unavailable()
    {
        int port;
        using (var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            port = ((IPEndPoint)probe.LocalEndPoint!).Port;
        } // closed: nothing listens there now
        using var dead = new GrpcChannel(new Uri($"http://127.0.0.1:{port}"));
        var ex = await Assert.ThrowsAsync<RpcException>(() => dead.UnaryAsync(EchoMethods.Unary, new EchoMessage()).WaitAsync(Patience));
        Assert.Equal(StatusCode.Unavailable, ex.StatusCode);
    }
}
