using Weft.Protocol.Grpc;
using Weft.Protocol.Health;
using Weft.Protocol.Tests.Grpc;
using ServingStatus = Weft.Protocol.Health.HealthCheckResponse.Types.ServingStatus;

namespace Weft.Protocol.Tests.Health;

public sealed class HealthServiceTests : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);
    private readonly HealthService _health = new();
    private KestrelHost _host = null!;
    private GrpcChannel _channel = null!;

    public async Task InitializeAsync()
    {
        var server = new GrpcServer();
        _health.Register(server);
        (_host, _channel) = await KestrelHost.StartGrpcAsync(server);
    }

    public async Task DisposeAsync()
    {
        _channel.Dispose();
        await _host.DisposeAsync();
    }

    private Task<HealthCheckResponse> CheckAsync(string service) =>
        _channel.UnaryAsync(HealthMethods.Check, new HealthCheckRequest { Service = service }).WaitAsync(Patience);

    [Fact]
    public async Task Whole_server_is_serving_by_default()
    {
        Assert.Equal(ServingStatus.Serving, (await CheckAsync("")).Status);
    }

    [Fact]
    public async Task Check_of_an_unknown_service_is_not_found()
    {
        var ex = await Assert.ThrowsAsync<RpcException>(() => CheckAsync("shop.v1.Ratings"));
        Assert.Equal(StatusCode.NotFound, ex.StatusCode);
    }

    [Fact]
    public async Task Check_reports_the_status_last_set()
    {
        _health.SetStatus("shop.v1.Ratings", ServingStatus.NotServing);
        Assert.Equal(ServingStatus.NotServing, (await CheckAsync("shop.v1.Ratings")).Status);
        _health.SetStatus("shop.v1.Ratings", ServingStatus.Serving);
        Assert.Equal(ServingStatus.Serving, (await CheckAsync("shop.v1.Ratings")).Status);
        _health.ClearStatus("shop.v1.Ratings");
        await Assert.ThrowsAsync<RpcException>(() => CheckAsync("shop.v1.Ratings"));
    }

    [Fact]
    public async Task Watch_sends_the_current_status_then_every_change()
    {
        await using var call = _channel.ServerStreaming(HealthMethods.Watch, new HealthCheckRequest { Service = "shop.v1.Ratings" });
        Assert.Equal(ServingStatus.ServiceUnknown, (await call.ResponseStream.ReadAsync().AsTask().WaitAsync(Patience))!.Status);

        _health.SetStatus("shop.v1.Ratings", ServingStatus.Serving);
        Assert.Equal(ServingStatus.Serving, (await call.ResponseStream.ReadAsync().AsTask().WaitAsync(Patience))!.Status);

        _health.SetStatus("shop.v1.Ratings", ServingStatus.Serving); // no change: nothing is sent
        _health.SetStatus("shop.v1.Ratings", ServingStatus.NotServing);
        Assert.Equal(ServingStatus.NotServing, (await call.ResponseStream.ReadAsync().AsTask().WaitAsync(Patience))!.Status);

        call.Cancel();
        Assert.Equal(StatusCode.Cancelled, (await call.StatusAsync.WaitAsync(Patience)).Code);
    }

    [Fact]
    public async Task Watch_of_the_whole_server_sees_it_stop_serving()
    {
        await using var call = _channel.ServerStreaming(HealthMethods.Watch, new HealthCheckRequest());
        Assert.Equal(ServingStatus.Serving, (await call.ResponseStream.ReadAsync().AsTask().WaitAsync(Patience))!.Status);
        _health.SetStatus("", ServingStatus.NotServing);
        Assert.Equal(ServingStatus.NotServing, (await call.ResponseStream.ReadAsync().AsTask().WaitAsync(Patience))!.Status);
    }
}
