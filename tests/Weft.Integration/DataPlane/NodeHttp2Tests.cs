using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace Weft.Integration.DataPlane;

/// <summary>
/// Node's http2 module at both ends (tests/interop/h2.js): its client on one session to the client
/// sidecar's outbound port for `h2node`, its server as that Service's app behind the server sidecar.
/// Headers, bodies and trailers both ways, 1000 streams at once, and resets from either end.
/// </summary>
[Collection(DataPlaneCollection.Name)]
public sealed class NodeHttp2Tests(DataPlaneMesh fixture, ITestOutputHelper log)
{
    private static readonly string[] Client = ["h2.js", "client"];

    [Theory]
    [InlineData("headers")]            // request headers echoed by the app; its own response header back
    [InlineData("upload-10mb")]        // POST of 10 MB streamed back as it arrives: SHA-256 at the app (trailers) and back at the client
    [InlineData("download-10mb")]      // 10 MB answer, SHA-256 against the app's
    [InlineData("response-trailers")]  // the app's trailers after its body
    [InlineData("request-trailers")]   // a body ended by trailers arrives whole (whether the trailers reach the app is printed, not asserted)
    [InlineData("concurrent-1000")]    // 1000 streams open at once at the app, on one client session, then all answered
    [InlineData("server-reset-mid-body")]    // the app's RST_STREAM after its head and a first line: a reset at the client, no end
    [InlineData("server-reset-before-head")] // the app's RST_STREAM before any head: 503 upstream_reset
    public async Task Node_http2_scenario_through_two_sidecars(string scenario)
    {
        if (DataPlaneMesh.Skipped(fixture.NodeMissing, log)) return;
        await fixture.PassScenarioAsync(Client, scenario, "h2node", log);
    }

    /// <summary>
    /// The client resets a stream the app holds (before its head, or after its head and a first
    /// line): the app sees the stream aborted, unanswered; h2.js checks it through /state and prints
    /// "event aborted /hold TAG ...".
    /// </summary>
    [Theory]
    [InlineData("client-reset-before-head")]
    [InlineData("client-reset-mid-body")]
    public async Task Node_http2_client_reset_reaches_the_app(string scenario)
    {
        if (DataPlaneMesh.Skipped(fixture.NodeMissing, log)) return;
        var result = await fixture.PassScenarioAsync(Client, scenario, "h2node", log);
        var tag = result.GetProperty("tag").GetString()!;
        await fixture.AppPrintsAsync(fixture.Http2Server, $"^event aborted /hold {Regex.Escape(tag)} closed aborted=true rst=[0-9]+ answered=false$", "h2node");
    }
}
