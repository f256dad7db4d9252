using Google.Protobuf;
using Weft.Protocol.Grpc;
using Weft.Protocol.Health;
using Weft.Protocol.Shop;
using Weft.Protocol.Tests.Grpc;
using Xunit.Abstractions;
using ServingStatus = Weft.Protocol.Health.HealthCheckResponse.Types.ServingStatus;

namespace Weft.Protocol.Tests.Interop;

/// <summary>Our GrpcChannel against the @grpc/grpc-js server (tests/interop/server.js).</summary>
public sealed class GrpcJsServerTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);
    private NodePeer? _server;
    private GrpcChannel? _channel;

    private GrpcChannel Channel => _channel!;

    public async Task InitializeAsync()
    {
        if (NodePeer.MissingPrerequisite() is not null)
        {
            return;
        }
        _server = NodePeer.Start("server.js");
        string listening = await _server.WaitForLineAsync("listening ", Patience);
        _channel = new GrpcChannel(new Uri("http://127.0.0.1:" + listening["listening ".Length..]), maxReceiveMessageSize: 2 * 1024 * 1024);
    }

    public async Task DisposeAsync()
    {
        _channel?.Dispose();
        if (_server is not null)
        {
            output.WriteLine(_server.Transcript);
            await _server.DisposeAsync();
        }
    }

    [Fact]
    public async Task Unary_with_metadata()
    {
        if (NodePeer.SkipIfMissing(output)) return;
        var headers = new Dictionary<string, string> { ["x-echo"] = "dotnet" };
        EchoMessage reply = await Channel.UnaryAsync(EchoMethods.Unary, new EchoMessage { Text = "hi" }, new CallOptions(Headers: headers)).WaitAsync(Patience);
        Assert.Equal("hi|dotnet", reply.Text);
    }

    [Fact]
    public async Task Large_message_round_trips()
    {
        if (NodePeer.SkipIfMissing(output)) return;
        byte[] payload = new byte[1024 * 1024];
        new Random(7).NextBytes(payload);
        EchoMessage reply = await Channel.UnaryAsync(EchoMethods.Unary, new EchoMessage { Payload = ByteString.CopyFrom(payload) }).WaitAsync(Patience);
        Assert.True(reply.Payload.Span.SequenceEqual(payload));
    }

    [Fact]
    public async Task Response_over_max_receive_size_is_resource_exhausted()
    {
        if (NodePeer.SkipIfMissing(output)) return;
        var big = new EchoMessage { Payload = ByteString.CopyFrom(new byte[3 * 1024 * 1024]) };
        var ex = await Assert.ThrowsAsync<RpcException>(() => Channel.UnaryAsync(EchoMethods.Unary, big).WaitAsync(Patience));
        Assert.Equal(StatusCode.ResourceExhausted, ex.StatusCode);
    }

    [Fact]
    public async Task Server_streaming()
    {
        if (NodePeer.SkipIfMissing(output)) return;
        await using var call = Channel.ServerStreaming(EchoMethods.ServerStream, new EchoMessage { Text = "s", Repeat = 4 });
        var texts = new List<string>();
        while (await call.ResponseStream.ReadAsync().AsTask().WaitAsync(Patience) is { } m)
        {
            texts.Add(m.Text);
        }
        Assert.Equal(["s-0", "s-1", "s-2", "s-3"], texts);
        Assert.Equal(StatusCode.OK, (await call.StatusAsync.WaitAsync(Patience)).Code);
    }

    [Fact]
    public async Task Server_streaming_error_after_messages()
    {
        if (NodePeer.SkipIfMissing(output)) return;
        await using var call = Channel.ServerStreaming(EchoMethods.ServerStream, new EchoMessage { Text = "e", Repeat = 2, FailCode = (int)StatusCode.Aborted });
        Assert.Equal("e-0", (await call.ResponseStream.ReadAsync().AsTask().WaitAsync(Patience))!.Text);
        Assert.Equal("e-1", (await call.ResponseStream.ReadAsync().AsTask().WaitAsync(Patience))!.Text);
        var ex = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.ReadAsync().AsTask().WaitAsync(Patience));
        Assert.Equal(new Status(StatusCode.Aborted, "failed: e"), ex.Status);
    }

    [Fact]
    public async Task Client_streaming()
    {
        if (NodePeer.SkipIfMissing(output)) return;
        await using var call = Channel.ClientStreaming(EchoMethods.ClientStream);
        foreach (string t in new[] { "x", "y", "z" })
        {
            await call.RequestStream.WriteAsync(new EchoMessage { Text = t }).AsTask().WaitAsync(Patience);
        }
        await call.RequestStream.CompleteAsync();
        EchoMessage? reply = await call.ResponseStream.ReadAsync().AsTask().WaitAsync(Patience);
        Assert.Equal("x,y,z", reply!.Text);
        Assert.Equal(3, reply.Repeat);
        Assert.Null(await call.ResponseStream.ReadAsync().AsTask().WaitAsync(Patience));
    }

    [Fact]
    public async Task Duplex_ping_pong()
    {
        if (NodePeer.SkipIfMissing(output)) return;
        await using var call = Channel.DuplexStreaming(EchoMethods.Bidi);
        for (int i = 0; i < 5; i++)
        {
            await call.RequestStream.WriteAsync(new EchoMessage { Text = "p" + i }).AsTask().WaitAsync(Patience);
            Assert.Equal("p" + i, (await call.ResponseStream.ReadAsync().AsTask().WaitAsync(Patience))!.Text);
        }
        await call.RequestStream.CompleteAsync();
        Assert.Null(await call.ResponseStream.ReadAsync().AsTask().WaitAsync(Patience));
        Assert.Equal(StatusCode.OK, (await call.StatusAsync.WaitAsync(Patience)).Code);
    }

    [Fact]
    public async Task Error_status_and_message()
    {
        if (NodePeer.SkipIfMissing(output)) return;
        const string text = "bad é 100%";
        var ex = await Assert.ThrowsAsync<RpcException>(() =>
            Channel.UnaryAsync(EchoMethods.Unary, new EchoMessage { Text = text, FailCode = (int)StatusCode.FailedPrecondition }).WaitAsync(Patience));
        Assert.Equal(new Status(StatusCode.FailedPrecondition, "failed: " + text), ex.Status);
    }

    [Fact]
    public async Task Unknown_method_is_unimplemented()
    {
        if (NodePeer.SkipIfMissing(output)) return;
        var missing = new Method<EchoMessage, EchoMessage>("shop.v1.Echo", "Nope", MethodType.Unary, EchoMessage.Parser, EchoMessage.Parser);
        var ex = await Assert.ThrowsAsync<RpcException>(() => Channel.UnaryAsync(missing, new EchoMessage()).WaitAsync(Patience));
        Assert.Equal(StatusCode.Unimplemented, ex.StatusCode);
    }

    [Fact]
    public async Task Deadline_exceeded_and_the_server_sees_it()
    {
        if (NodePeer.SkipIfMissing(output)) return;
        var options = new CallOptions(Deadline: DateTimeOffset.UtcNow.AddMilliseconds(1500));
        Task<EchoMessage> pending = Channel.UnaryAsync(EchoMethods.Unary, new EchoMessage { DelayMs = 60_000 }, options);
        await _server!.WaitForLineAsync("event waiting Echo/Unary", Patience);
        var ex = await Assert.ThrowsAsync<RpcException>(() => pending.WaitAsync(Patience));
        Assert.Equal(StatusCode.DeadlineExceeded, ex.StatusCode);
        await _server.WaitForLineAsync("event cancelled Echo/Unary", Patience);
    }

    [Fact]
    public async Task Cancel_reaches_the_server()
    {
        if (NodePeer.SkipIfMissing(output)) return;
        await using var call = Channel.DuplexStreaming(EchoMethods.Bidi);
        await call.RequestStream.WriteAsync(new EchoMessage { DelayMs = 60_000 });
        await _server!.WaitForLineAsync("event waiting Echo/Bidi", Patience);
        call.Cancel();
        var ex = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.ReadAsync().AsTask().WaitAsync(Patience));
        Assert.Equal(StatusCode.Cancelled, ex.StatusCode);
        await _server.WaitForLineAsync("event cancelled Echo/Bidi", Patience);
    }

    [Fact]
    public async Task Health_check()
    {
        if (NodePeer.SkipIfMissing(output)) return;
        HealthCheckResponse whole = await Channel.UnaryAsync(HealthMethods.Check, new HealthCheckRequest()).WaitAsync(Patience);
        Assert.Equal(ServingStatus.Serving, whole.Status);
        var ex = await Assert.ThrowsAsync<RpcException>(() =>
            Channel.UnaryAsync(HealthMethods.Check, new HealthCheckRequest { Service = "no.such.Service" }).WaitAsync(Patience));
        Assert.Equal(StatusCode.NotFound, ex.StatusCode);
    }

    [Fact]
    public async Task Health_watch_sees_a_status_change()
    {
        if (NodePeer.SkipIfMissing(output)) return;
        await using var call = Channel.ServerStreaming(HealthMethods.Watch, new HealthCheckRequest { Service = "shop.v1.Ratings" });
        Assert.Equal(ServingStatus.ServiceUnknown, (await call.ResponseStream.ReadAsync().AsTask().WaitAsync(Patience))!.Status);
        // server.js changes health through this side door, so the change comes from outside the watch.
        await Channel.UnaryAsync(EchoMethods.Unary, new EchoMessage { Text = "set-health shop.v1.Ratings NOT_SERVING" }).WaitAsync(Patience);
        Assert.Equal(ServingStatus.NotServing, (await call.ResponseStream.ReadAsync().AsTask().WaitAsync(Patience))!.Status);
        call.Cancel();
        await _server!.WaitForLineAsync("event cancelled Health/Watch", Patience);
    }
}
