using System.Text.Json;
using Weft.Protocol.Grpc;
using Weft.Protocol.Health;
using Weft.Protocol.Tests.Grpc;
using Xunit.Abstractions;
using ServingStatus = Weft.Protocol.Health.HealthCheckResponse.Types.ServingStatus;

namespace Weft.Protocol.Tests.Interop;

/// <summary>The @grpc/grpc-js client (tests/interop/client.js) against our GrpcServer on Kestrel.</summary>
public sealed class GrpcJsClientTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);
    private readonly EchoService _echo = new();
    private readonly HealthService _health = new();
    private KestrelHost? _host;

    private string Target => $"127.0.0.1:{_host!.Address.Port}";

    public async Task InitializeAsync()
    {
        if (NodePeer.MissingPrerequisite() is not null)
        {
            return;
        }
        var server = new GrpcServer();
        _echo.Register(server);
        _health.Register(server);
        _host = await KestrelHost.StartAsync(server.HandleAsync);
    }

    public async Task DisposeAsync()
    {
        if (_host is not null)
        {
            await _host.DisposeAsync();
        }
    }

    private async Task<JsonElement> RunScenarioAsync(string scenario, Func<NodePeer, Task>? midway = null)
    {
        await using NodePeer client = NodePeer.Start("client.js", scenario, Target);
        if (midway is not null)
        {
            await midway(client);
        }
        string line = await client.WaitForLineAsync("result ", Patience);
        int exit = await client.WaitForExitAsync(Patience);
        output.WriteLine(client.Transcript);
        JsonElement result = JsonDocument.Parse(line["result ".Length..]).RootElement;
        Assert.True(exit == 0 && result.GetProperty("ok").GetBoolean(), $"grpc-js scenario {scenario} failed (exit {exit}): {line}");
        return result;
    }

    [Theory]
    [InlineData("unary")]
    [InlineData("large")]
    [InlineData("server-stream")]
    [InlineData("client-stream")]
    [InlineData("bidi")]
    [InlineData("error")]
    [InlineData("stream-error")]
    [InlineData("unimplemented")]
    [InlineData("health-check")]
    public async Task Scenario_passes(string scenario)
    {
        if (NodePeer.SkipIfMissing(output))
        {
            return;
        }
        await RunScenarioAsync(scenario);
    }

    [Fact]
    public async Task Deadline_exceeded_and_the_handler_token_fires()
    {
        if (NodePeer.SkipIfMissing(output))
        {
            return;
        }
        JsonElement result = await RunScenarioAsync("deadline");
        Assert.Equal((int)StatusCode.DeadlineExceeded, result.GetProperty("code").GetInt32());
        await _echo.CancellationSeen.Task.WaitAsync(Patience);
        Assert.NotNull(_echo.LastDeadline); // grpc-js sent grpc-timeout and we parsed it
    }

    [Fact]
    public async Task Client_cancel_reaches_the_handler()
    {
        if (NodePeer.SkipIfMissing(output))
        {
            return;
        }
        await RunScenarioAsync("cancel", async client =>
        {
            await client.WaitForLineAsync("step sent", Patience);
            await _echo.CallWaiting.Task.WaitAsync(Patience);
            await client.SendLineAsync("go");
        });
        await _echo.CancellationSeen.Task.WaitAsync(Patience);
    }

    [Fact]
    public async Task Health_watch_sees_a_status_change()
    {
        if (NodePeer.SkipIfMissing(output))
        {
            return;
        }
        await RunScenarioAsync("health-watch", async client =>
        {
            await client.WaitForLineAsync("step watching", Patience);
            _health.SetStatus("shop.v1.Ratings", ServingStatus.Serving);
            await client.SendLineAsync("go");
        });
    }
}
