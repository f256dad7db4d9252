using System.Globalization;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace Weft.Integration.DataPlane;

/// <summary>
/// @grpc/grpc-js client and server (tests/interop) with both sidecars between them: every call kind,
/// status, details and metadata passed through from the server's headers and trailers, 10 MB
/// messages, deadlines and cancellation both ways, 1000 calls at once on one connection.
/// </summary>
[Collection(DataPlaneCollection.Name)]
public sealed class GrpcTests(DataPlaneMesh fixture, ITestOutputHelper log)
{
    private static readonly string[] Client = ["client.js"];

    [Theory]
    [InlineData("unary")]          // metadata in, message out
    [InlineData("large")]          // 1 MB message each way
    [InlineData("server-stream")]
    [InlineData("client-stream")]
    [InlineData("bidi")]           // ping-pong: each reply must arrive before the next request is sent
    [InlineData("error")]          // PERMISSION_DENIED with UTF-8 details, from trailers
    [InlineData("stream-error")]   // ABORTED after 2 streamed messages
    [InlineData("deadline")]       // DEADLINE_EXCEEDED after 300 ms of a 30 s call
    [InlineData("unimplemented")]
    [InlineData("trailers-only")]  // unary and server-stream: a status, no message; UTF-8 details, custom trailing metadata (text, binary)
    [InlineData("trailing-metadata")] // custom metadata in the response headers and the trailers of an OK call
    [InlineData("error-mid-bidi")] // DATA_LOSS after 2 replies, with its details and trailing metadata
    public async Task Grpc_js_scenario_through_two_sidecars(string scenario)
    {
        if (DataPlaneMesh.Skipped(fixture.GrpcMissing, log)) return;
        await fixture.PassScenarioAsync(Client, scenario, "echo", log);
    }

    /// <summary>Against server.js's 16 MB port, with the client's limits raised to 16 MB: every payload hashed.</summary>
    [Theory]
    [InlineData("large-10mb-unary")]         // 10 MB each way
    [InlineData("large-10mb-server-stream")] // 10 MB up, 3 x 10 MB down
    [InlineData("large-10mb-client-stream")] // 3 x 10 MB up, their SHA-256s down
    public async Task Grpc_js_10_MB_messages_through_two_sidecars(string scenario)
    {
        if (DataPlaneMesh.Skipped(fixture.GrpcMissing, log)) return;
        await fixture.PassScenarioAsync(Client, scenario, "echo-large", log);
    }

    /// <summary>
    /// A call the client ends (cancel mid-stream, or its deadline, which must strike at about its
    /// time) ends at the server app too: server.js prints "event cancelled METHOD TAG" for it.
    /// </summary>
    [Theory]
    [InlineData("cancel-stream", "Echo/ServerStream")]  // cancelled after 2 of its messages
    [InlineData("deadline-window", "Echo/Unary")]       // 500 ms deadline: DEADLINE_EXCEEDED within [450, 2500) ms
    [InlineData("deadline-stream", "Echo/ServerStream")] // 800 ms deadline after 2 messages: within [750, 2800) ms
    public async Task Grpc_js_call_ended_by_the_client_ends_at_the_server_app(string scenario, string method)
    {
        if (DataPlaneMesh.Skipped(fixture.GrpcMissing, log)) return;
        var result = await fixture.PassScenarioAsync(Client, scenario, "echo", log);
        var tag = result.GetProperty("tag").GetString()!;
        await fixture.AppPrintsAsync(fixture.GrpcServer, $"^event cancelled {Regex.Escape(method)} {Regex.Escape(tag)}$", "echo");
    }

    /// <summary>
    /// 1000 unary calls on one grpc-js channel, which server.js answers only once all 1000 are open
    /// at once; the client sidecar accepted exactly one connection for them.
    /// </summary>
    [Fact]
    public async Task Grpc_js_1000_concurrent_calls_on_one_connection()
    {
        if (DataPlaneMesh.Skipped(fixture.GrpcMissing, log)) return;
        var port = fixture.Mesh.OutboundPort("echo");
        var before = await fixture.Mesh.ConnectionsOpenedAsync(port);
        await fixture.PassScenarioAsync(Client, "concurrent-1000", "echo", log);
        var opened = await fixture.Mesh.ConnectionsOpenedAsync(port) - before;
        Assert.True(opened == 1, string.Create(CultureInfo.InvariantCulture, $"{opened} connections to the client sidecar for one channel"));
    }
}
