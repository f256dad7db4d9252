using Xunit.Abstractions;

namespace Weft.Integration.DataPlane;

/// <summary>
/// @grpc/grpc-js client and server (tests/interop) with both sidecars between them: every call kind,
/// status and details passed through from the server's trailers, deadlines.
/// </summary>
[Collection(DataPlaneCollection.Name)]
public sealed class GrpcTests(DataPlaneMesh fixture, ITestOutputHelper log)
{
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
    public async Task Grpc_js_scenario_through_two_sidecars(string scenario)
    {
        if (fixture.GrpcMissing is { } missing)
        {
            log.WriteLine("SKIP: " + missing);
            return;
        }
        var (code, output) = await GrpcPeer.RunClientAsync(scenario, fixture.Mesh.OutboundPort("echo"), TimeSpan.FromSeconds(30));
        log.WriteLine(output);
        if (code != 0)
            Assert.Fail(output + SidecarLogs());
        Assert.Contains("\"ok\":true", output);
    }

    /// <summary>The last lines of both sidecars' debug logs, for a failure to explain itself.</summary>
    private string SidecarLogs()
    {
        static string Tail(string text) => string.Join('\n', text.Split('\n').TakeLast(60));
        return "\n--- client sidecar:\n" + Tail(fixture.Mesh.Client.Process.Output)
            + "\n--- echo sidecar:\n" + Tail(fixture.Mesh.Server("echo").Process.Output);
    }
}
