using System.Net;
using Xunit.Abstractions;

namespace Weft.Integration.DataPlane;

/// <summary>h2c from the app (prior knowledge) to its sidecar, multiplexed h2 between sidecars, h2c to the app.</summary>
[Collection(DataPlaneCollection.Name)]
public sealed class H2cTests(DataPlaneMesh fixture, ITestOutputHelper log)
{
    [Fact]
    public async Task Concurrent_streams_share_one_connection_at_every_hop()
    {
        var connects = 0;
        using var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (ctx, ct) =>
            {
                Interlocked.Increment(ref connects);
                var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp) { NoDelay = true };
                await socket.ConnectAsync(ctx.DnsEndPoint, ct);
                return new System.Net.Sockets.NetworkStream(socket, ownsSocket: true);
            },
        };
        using var http = new HttpClient(handler)
        {
            DefaultRequestVersion = HttpVersion.Version20,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Timeout = TimeSpan.FromSeconds(20),
        };
        // Warm one connection first, so the 50 concurrent requests below can only multiplex on it.
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(fixture.Mesh.Outbound("h2app", "/hello"))).StatusCode);

        var started = DateTime.UtcNow;
        var answers = await Task.WhenAll(Enumerable.Range(0, 50).Select(async _ =>
        {
            using var response = await http.GetAsync(fixture.Mesh.Outbound("h2app", "/delay?ms=500"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(HttpVersion.Version20, response.Version);
            return await response.Content.ReadAsStringAsync();
        }));
        var elapsed = DateTime.UtcNow - started;
        var appConnections = answers.Select(a => a.Split(' ')[1]).Distinct().Count();
        log.WriteLine($"50 x 500 ms in {elapsed.TotalMilliseconds:0} ms; client connections {connects}, app-side connections {appConnections}");
        Assert.All(answers, a => Assert.StartsWith("HTTP/2 ", a));
        Assert.Equal(1, connects);
        // Concurrent, not one after another (that would take 25 s).
        Assert.True(elapsed < TimeSpan.FromSeconds(8), $"took {elapsed}");
        // The server sidecar multiplexes too: far fewer app-side connections than streams.
        Assert.True(appConnections <= 3, $"{appConnections} app-side connections for 50 streams");
    }
}
