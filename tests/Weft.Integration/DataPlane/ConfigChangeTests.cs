using System.Net;
using System.Text;
using Weft.Integration.Harness;
using Xunit.Abstractions;

namespace Weft.Integration.DataPlane;

/// <summary>
/// Config changes while a long streaming response and a keep-alive connection are open through both
/// sidecars: a route added and removed, an endpoint added and removed. Neither is dropped or disturbed.
/// </summary>
[Collection(DataPlaneCollection.Name)]
public sealed class ConfigChangeTests(DataPlaneMesh fixture, ITestOutputHelper log)
{
    private const int Chunks = 80;   // one every 250 ms: 20 s, longer than every change below takes (~8-12 s)
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);
    private TwoSidecars Mesh => fixture.Mesh;

    private const string RouteYaml = """
        apiVersion: gateway.networking.k8s.io/v1
        kind: HTTPRoute
        metadata: { name: web-marked }
        spec:
          parentRefs: [{ group: "", kind: Service, name: web }]
          rules:
            - backendRefs: [{ name: web, port: 8080 }]
              filters:
                - type: ResponseHeaderModifier
                  responseHeaderModifier: { add: [{ name: x-route, value: marked }] }
        """;

    [Fact]
    public async Task A_streaming_response_and_a_keep_alive_connection_survive_route_and_endpoint_changes()
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };
        using var streaming = await http.GetAsync(Mesh.Outbound("web", $"/chunks?count={Chunks}&ms=250"), HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, streaming.StatusCode);
        var received = new List<string>();
        var reading = ReadLinesAsync(await streaming.Content.ReadAsStreamAsync(), received);

        await using var held = await RawHttp1.ConnectAsync(Mesh.OutboundPort("web"));
        Assert.Null((await GetOnHeldAsync(held)).Header("x-route"));

        var clock = System.Diagnostics.Stopwatch.StartNew();
        await Mesh.ApplyAsync(RouteYaml);                                  // a route changes
        log.WriteLine($"route applied: {clock.ElapsedMilliseconds} ms");
        Assert.Equal("marked", (await GetOnHeldAsync(held)).Header("x-route"));

        var replica = Mesh.StartServerSidecar(new ServerApp("web", fixture.App.Http1Port, "http"), "web-1");
        await Mesh.WaitReadyAsync(replica);
        await Mesh.WaitForEndpointsAsync("web", 2);                        // an endpoint is added
        log.WriteLine($"endpoint added: {clock.ElapsedMilliseconds} ms");
        for (var i = 0; i < 4; i++)
            Assert.Equal("marked", (await GetOnHeldAsync(held)).Header("x-route"));

        await Mesh.StopAsync(replica);
        await Mesh.WaitForEndpointsAsync("web", 1);                        // an endpoint is removed
        log.WriteLine($"endpoint removed: {clock.ElapsedMilliseconds} ms");
        await GetOnHeldAsync(held);

        var (code, output) = await WeftProcess.RunAsync(["delete", "httproute", "web-marked", "--control", Mesh.ControlUrl], Patience);
        Assert.True(code == 0, output);                                    // the route goes again
        await Eventually.HoldsAsync(async () => (await GetOnHeldAsync(held)).Header("x-route") is null, Patience,
            () => "the deleted route still applies");

        log.WriteLine($"route deleted: {clock.ElapsedMilliseconds} ms");
        int seenAtLastChange;
        lock (received) seenAtLastChange = received.Count;
        log.WriteLine($"every change applied while the stream was at chunk {seenAtLastChange} of {Chunks}");
        Assert.True(seenAtLastChange < Chunks, "the stream ended before the changes: it proved nothing");

        await reading.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(Enumerable.Range(0, Chunks).Select(i => $"chunk {i}"), received);
        await GetOnHeldAsync(held);
    }

    /// <summary>One more request on the held connection: it must still be the same, open connection.</summary>
    private static async Task<RawHttp1.Response> GetOnHeldAsync(RawHttp1 held)
    {
        await held.SendGetAsync("/hello");
        var response = await held.ReadResponseAsync(Patience);
        Assert.Equal(200, response.Status);
        Assert.Null(response.Header("Connection"));
        return response;
    }

    private static async Task ReadLinesAsync(Stream body, List<string> into)
    {
        using var reader = new StreamReader(body, Encoding.UTF8);
        while (await reader.ReadLineAsync() is { } line)
            lock (into) into.Add(line);
    }
}
