using System.Net;
using Microsoft.AspNetCore.Http;
using Weft.Protocol.Grpc;
using Weft.Protocol.Shop;

namespace Weft.Protocol.Tests.Grpc;

/// <summary>How our client reads responses that a gRPC server of ours would never send.</summary>
public sealed class ClientProtocolTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);

    [Theory]
    [InlineData(404, StatusCode.Unimplemented)]
    [InlineData(503, StatusCode.Unavailable)]
    [InlineData(401, StatusCode.Unauthenticated)]
    [InlineData(403, StatusCode.PermissionDenied)]
    [InlineData(400, StatusCode.Internal)]
    [InlineData(500, StatusCode.Unknown)]
    public async Task Http_status_other_than_200_maps_per_the_spec(int httpStatus, StatusCode expected)
    {
        await using KestrelHost host = await KestrelHost.StartAsync(context =>
        {
            context.Response.StatusCode = httpStatus;
            return Task.CompletedTask;
        });
        using var channel = new GrpcChannel(host.Address);
        var ex = await Assert.ThrowsAsync<RpcException>(() => channel.UnaryAsync(EchoMethods.Unary, new EchoMessage()).WaitAsync(Patience));
        Assert.Equal(expected, ex.StatusCode);
    }

    [Fact]
    public async Task Response_without_grpc_status_is_an_error()
    {
        await using KestrelHost host = await KestrelHost.StartAsync(context =>
        {
            context.Response.ContentType = "application/grpc";
            return Task.CompletedTask;
        });
        using var channel = new GrpcChannel(host.Address);
        var ex = await Assert.ThrowsAsync<RpcException>(() => channel.UnaryAsync(EchoMethods.Unary, new EchoMessage()).WaitAsync(Patience));
        Assert.Equal(StatusCode.Internal, ex.StatusCode);
    }

    [Fact]
    public async Task Ok_status_without_a_message_is_an_error_for_unary()
    {
        await using KestrelHost host = await KestrelHost.StartAsync(context =>
        {
            context.Response.ContentType = "application/grpc";
            context.Response.Headers["grpc-status"] = "0";
            return Task.CompletedTask;
        });
        using var channel = new GrpcChannel(host.Address);
        var ex = await Assert.ThrowsAsync<RpcException>(() => channel.UnaryAsync(EchoMethods.Unary, new EchoMessage()).WaitAsync(Patience));
        Assert.Equal(StatusCode.Internal, ex.StatusCode);
    }

    [Fact]
    public async Task Client_sends_grpc_timeout_te_and_content_type()
    {
        var seen = new TaskCompletionSource<IHeaderDictionary>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using KestrelHost host = await KestrelHost.StartAsync(context =>
        {
            seen.TrySetResult(new HeaderDictionary(context.Request.Headers.ToDictionary(h => h.Key, h => h.Value, StringComparer.OrdinalIgnoreCase)));
            context.Response.ContentType = "application/grpc";
            context.Response.Headers["grpc-status"] = "5";
            return Task.CompletedTask;
        });
        using var channel = new GrpcChannel(host.Address);
        await Assert.ThrowsAsync<RpcException>(() =>
            channel.UnaryAsync(EchoMethods.Unary, new EchoMessage(), new CallOptions(Deadline: DateTimeOffset.UtcNow.AddSeconds(10))).WaitAsync(Patience));
        IHeaderDictionary headers = await seen.Task.WaitAsync(Patience);
        Assert.Equal("application/grpc", headers.ContentType.ToString());
        Assert.Equal("trailers", headers["te"].ToString());
        Assert.True(GrpcHeaders.TryParseTimeout(headers["grpc-timeout"], out TimeSpan timeout));
        Assert.InRange(timeout, TimeSpan.FromSeconds(8), TimeSpan.FromSeconds(10.1));
    }
}
