using System.Net;
using System.Net.Sockets;
using System.Text;
using Xunit.Abstractions;

namespace Weft.Integration.DataPlane;

/// <summary>HTTP/1.1 through two sidecars: keep-alive, chunked both ways, Expect: 100-continue.</summary>
[Collection(DataPlaneCollection.Name)]
public sealed class Http1Tests(DataPlaneMesh fixture, ITestOutputHelper log)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);
    private TwoSidecars Mesh => fixture.Mesh;

    [Fact]
    public async Task Keep_alive_reuses_one_client_connection_and_the_sidecars_pool_theirs()
    {
        var connects = 0;
        using var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (ctx, ct) =>
            {
                Interlocked.Increment(ref connects);
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                await socket.ConnectAsync(ctx.DnsEndPoint, ct);
                return new NetworkStream(socket, ownsSocket: true);
            },
        };
        using var http = new HttpClient(handler) { Timeout = Patience };
        var appConnections = new HashSet<string>();
        for (var i = 0; i < 20; i++)
        {
            using var response = await http.GetAsync(Mesh.Outbound("web", "/hello"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.False(response.Headers.ConnectionClose ?? false);
            var body = await response.Content.ReadAsStringAsync();
            Assert.StartsWith("hello HTTP/1.1 ", body);
            appConnections.Add(body.Split(' ')[2]);
        }
        log.WriteLine($"client connections: {connects}, app-side connections: {appConnections.Count}");
        Assert.Equal(1, connects);
        // Sequential requests: the server-side sidecar reuses its pooled connection to the app.
        Assert.Single(appConnections);
    }

    [Fact]
    public async Task Chunked_request_and_chunked_response_pass_through()
    {
        await using var conn = await RawHttp1.ConnectAsync(Mesh.OutboundPort("web"));
        var parts = new[] { "first chunk;", new string('x', 5000), ";third" };
        var wire = new StringBuilder("POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n");
        foreach (var p in parts) wire.Append($"{p.Length:x}\r\n{p}\r\n");
        wire.Append("0\r\n\r\n");
        await conn.SendAsync(wire.ToString());
        var response = await conn.ReadResponseAsync(Patience);
        Assert.Equal(200, response.Status);
        Assert.Equal("chunked", response.Header("Transfer-Encoding"));
        Assert.Null(response.Header("Content-Length"));
        Assert.Equal(string.Concat(parts), response.Text);
    }

    [Fact]
    public async Task Expect_100_continue_the_client_gets_100_then_sends_the_body_and_gets_the_echo()
    {
        await using var conn = await RawHttp1.ConnectAsync(Mesh.OutboundPort("web"));
        var body = "a body sent only after 100 Continue";
        await conn.SendAsync($"POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: {body.Length}\r\nExpect: 100-continue\r\n\r\n");
        // Nothing of the body is sent yet: the 100 must come from the chain itself.
        var interim = await conn.ReadResponseAsync(Patience);
        Assert.Equal(100, interim.Status);
        await conn.SendAsync(body);
        var response = await conn.ReadResponseAsync(Patience);
        Assert.Equal(200, response.Status);
        Assert.Equal(body, response.Text);
    }
}
