using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using Weft.Proxy.Tests.Support;

namespace Weft.Proxy.Tests.Codecs.Http1;

using Protocol = Weft.Protocol.Discovery.Protocol;

/// <summary>
/// HTTP/1.1 Upgrade (WebSocket and others) when the request is served by Kestrel's path rather than
/// the lean one: its target needs Kestrel's normalization, or an earlier request on the connection
/// already handed it over. The client is a raw socket, so the bytes and the connection are exactly the
/// test's; once the 101 is read, .NET's own WebSocket speaks the frames over that same socket.
/// </summary>
public sealed class UpgradeTests
{
    private static async Task<(TestProxy Proxy, int Port)> ProxyToAsync(int upstreamPort, Protocol protocol = Protocol.Http,
        ProxyHostOptions? options = null)
    {
        var proxy = await TestProxy.StartAsync(options: options);
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("app"))
            .Cluster("app", protocol, (upstreamPort, "v1")).Build());
        return (proxy, port);
    }

    [Theory]
    [InlineData("/chat%2Droom")]
    [InlineData("/x/../chat")]
    [InlineData("/./chat?room=1")]
    public async Task WebSocket_whose_target_is_normalized_echoes_both_ways_and_closes_cleanly(string target)
    {
        await using var app = await WebSocketApp.StartAsync();
        var (proxy, port) = await ProxyToAsync(app.Port);
        await using var _ = proxy;
        await using var client = await RawClient.ConnectAsync(port);
        using var ws = await UpgradeAsync(client, target);
        await ConverseAsync(ws, app);
    }

    [Fact]
    public async Task WebSocket_after_a_normalized_request_on_the_same_connection_echoes_both_ways_and_closes_cleanly()
    {
        await using var app = await WebSocketApp.StartAsync();
        var (proxy, port) = await ProxyToAsync(app.Port);
        await using var _ = proxy;
        await using var client = await RawClient.ConnectAsync(port);
        // A target with dot segments first, then an upgrade on the same kept-alive connection.
        await client.SendAsync("GET /x/../plain HTTP/1.1\r\nHost: a\r\n\r\n");
        var first = await client.ReadResponseAsync();
        Assert.StartsWith("HTTP/1.1 200", first);
        Assert.EndsWith("\r\n\r\nok", first);
        using var ws = await UpgradeAsync(client, "/chat");
        await ConverseAsync(ws, app);
    }

    [Fact]
    public async Task With_the_lean_path_off_a_ClientWebSocket_echoes_through_kestrel()
    {
        await using var app = await WebSocketApp.StartAsync();
        var (proxy, port) = await ProxyToAsync(app.Port, options: new ProxyHostOptions { LeanHttp1 = false });
        await using var _ = proxy;
        // ClientWebSocket checks the 101 itself: Connection, Upgrade, Sec-WebSocket-Accept.
        using var ws = new ClientWebSocket();
        ws.Options.KeepAliveInterval = TimeSpan.Zero;
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await ws.ConnectAsync(new Uri($"ws://127.0.0.1:{port}/chat"), deadline.Token);
        await ConverseAsync(ws, app);
    }

    [Theory]
    [InlineData("/x/../chat")]          // Kestrel's path
    [InlineData("/chat")]               // the lean path, for comparison
    public async Task WebSocket_upgraded_while_draining_keeps_Connection_Upgrade_and_runs_until_closed(string target)
    {
        await using var app = await WebSocketApp.StartAsync();
        var (proxy, port) = await ProxyToAsync(app.Port);
        await using var _ = proxy;
        // The drain signal alone (listeners still open): HTTP/1 answers get Connection: close, but a 101
        // must keep its Connection: Upgrade or no client accepts the handshake.
        Assert.True(proxy.Host.State.BeginDrain());
        await using var client = await RawClient.ConnectAsync(port);
        using var ws = await UpgradeAsync(client, target);
        await ConverseAsync(ws, app);
    }

    [Fact]
    public async Task An_open_WebSocket_on_kestrels_path_is_aborted_at_the_drain_deadline()
    {
        await using var app = await WebSocketApp.StartAsync();
        var (proxy, port) = await ProxyToAsync(app.Port);
        await using var _ = proxy;
        await using var client = await RawClient.ConnectAsync(port);
        using var ws = await UpgradeAsync(client, "/x/../chat");
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var (_, hello) = await ReceiveAsync(ws, deadline.Token);
        Assert.Equal(WebSocketApp.Hello, Encoding.UTF8.GetString(hello));
        await proxy.Host.StopAsync(TimeSpan.FromSeconds(1)).WaitAsync(TimeSpan.FromSeconds(15));
        // Aborted, not closed: neither end saw a close handshake.
        await Assert.ThrowsAnyAsync<WebSocketException>(() => ReceiveAsync(ws, deadline.Token));
        Assert.StartsWith("failed: ", await app.NextEndAsync());
    }

    [Theory]
    [InlineData("/refuse/x/../y")]      // Kestrel's path
    [InlineData("/refuse")]             // the lean path, for comparison
    public async Task Upgrade_answered_without_101_is_relayed_as_a_normal_response(string target)
    {
        await using var app = await WebSocketApp.StartAsync();
        var (proxy, port) = await ProxyToAsync(app.Port);
        await using var _ = proxy;
        await using var client = await RawClient.ConnectAsync(port);
        await client.SendAsync(WebSocketRequest(target, NewKey()));
        var response = await client.ReadResponseAsync();
        Assert.StartsWith("HTTP/1.1 403", response);
        Assert.Contains("x-refused: yes\r\n", response);
        Assert.EndsWith("\r\n\r\nno websocket here", response);
        // Not upgraded, the connection is still HTTP: the next request on it is answered.
        await client.SendAsync("GET /plain HTTP/1.1\r\nHost: a\r\n\r\n");
        Assert.EndsWith("\r\n\r\nok", await client.ReadResponseAsync());
    }

    [Fact]
    public async Task WebSocket_toward_an_http2_cluster_gets_502_upgrade_unsupported_at_once()
    {
        await using var backend = await Backend.StartAsync("h2app", http2Only: true);
        var (proxy, port) = await ProxyToAsync(backend.Port, Protocol.Http2);
        await using var _ = proxy;
        await using var client = await RawClient.ConnectAsync(port);
        await client.SendAsync(WebSocketRequest("/chat", NewKey()));
        var response = await client.ReadResponseAsync();
        Assert.StartsWith("HTTP/1.1 502", response);
        Assert.Contains("x-weft-reason: upgrade_unsupported\r\n", response);
        Assert.Contains(" speaks HTTP/2: an HTTP/1.1 Upgrade (WebSocket) cannot be forwarded to it\n", response);
        Assert.Equal(0, backend.Requests);
    }

    [Theory]
    [InlineData("/h", Protocol.Http)]           // the lean path
    [InlineData("/x/../h", Protocol.Http)]      // Kestrel's path
    [InlineData("/h", Protocol.Http2)]          // Kestrel's path, to an h2c upstream
    public async Task An_h2c_upgrade_offer_is_served_as_plain_http(string target, Protocol protocol)
    {
        // What curl --http2 sends on http://: the offer is for this hop only, never an upgrade to forward.
        await using var backend = await Backend.StartAsync("app", http2Only: protocol == Protocol.Http2);
        var (proxy, port) = await ProxyToAsync(backend.Port, protocol);
        await using var _ = proxy;
        await using var client = await RawClient.ConnectAsync(port);
        await client.SendAsync($"GET {target} HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n" +
            "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n");
        var response = await client.ReadUntilAsync("\r\n0\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 200", response);
        Assert.Contains("backend: app\n", response);
        Assert.DoesNotContain("upgrade", response, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("http2-settings", response, StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData("/raw")]                // the lean path
    [InlineData("/x/../raw")]           // Kestrel's path
    public async Task Any_http11_upgrade_is_tunnelled_until_the_upstream_closes(string target)
    {
        // A protocol nobody knows but its two ends: the proxy forwards the offer and relays bytes after 101.
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var upstream = Task.Run(async () =>
        {
            using var socket = await listener.AcceptSocketAsync();
            var head = await ReadHeadAsync(socket);
            await socket.SendAsync("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: weft-echo/1\r\n\r\n"u8.ToArray());
            var buffer = new byte[1024];
            var received = "";
            while (!received.EndsWith("quit\n", StringComparison.Ordinal))
            {
                var n = await socket.ReceiveAsync(buffer);
                if (n == 0)
                    return head;
                var text = Encoding.ASCII.GetString(buffer, 0, n);
                received += text;
                if (!text.Contains("quit", StringComparison.Ordinal))
                    await socket.SendAsync(buffer.AsMemory(0, n));
            }
            await socket.SendAsync("bye\n"u8.ToArray());
            socket.Shutdown(SocketShutdown.Both);
            return head;
        });
        var (proxy, port) = await ProxyToAsync(((IPEndPoint)listener.LocalEndpoint).Port);
        await using var _ = proxy;
        await using var client = await RawClient.ConnectAsync(port);
        await client.SendAsync($"GET {target} HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: weft-echo/1\r\n\r\n");
        var response = await client.ReadHeadAsync();
        Assert.StartsWith("HTTP/1.1 101", response);
        Assert.Contains("Connection: Upgrade\r\n", response);
        Assert.Contains("Upgrade: weft-echo/1\r\n", response);

        await client.SendAsync("ping\n");
        Assert.Equal("ping\n", await client.ReadUntilAsync("ping\n"));
        await client.SendAsync("quit\n");
        var (rest, closed) = await client.ReadToEndAsync();
        Assert.Equal("bye\n", rest);
        Assert.True(closed, "the upstream's close did not reach the client");

        var seen = await upstream.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.StartsWith("GET /", seen);
        Assert.Contains("Connection: Upgrade\r\n", seen);
        Assert.Contains("Upgrade: weft-echo/1\r\n", seen);
    }

    private static string NewKey() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));

    private static string WebSocketRequest(string target, string key) =>
        $"GET {target} HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\r\n";

    /// <summary>Asks for a WebSocket, checks the 101 (the accept key included), then speaks WebSocket on the same socket.</summary>
    private static async Task<WebSocket> UpgradeAsync(RawClient client, string target)
    {
        var key = NewKey();
        await client.SendAsync(WebSocketRequest(target, key));
        var head = await client.ReadHeadAsync();
        Assert.StartsWith("HTTP/1.1 101", head);
        Assert.Contains("\r\nconnection: upgrade\r\n", head, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("\r\nupgrade: websocket\r\n", head, StringComparison.OrdinalIgnoreCase);
        var accept = Convert.ToBase64String(SHA1.HashData(Encoding.ASCII.GetBytes(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")));
        Assert.Contains("sec-websocket-accept: " + accept + "\r\n", head, StringComparison.OrdinalIgnoreCase);
        return WebSocket.CreateFromStream(client.GetStream(), new WebSocketCreationOptions { IsServer = false, KeepAliveInterval = TimeSpan.Zero });
    }

    /// <summary>The app's hello (downstream first), text and binary echoes, a 1 MB message, then a close handshake both ends see complete.</summary>
    private static async Task ConverseAsync(WebSocket ws, WebSocketApp app)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var (helloType, hello) = await ReceiveAsync(ws, deadline.Token);
        Assert.Equal(WebSocketMessageType.Text, helloType);
        Assert.Equal(WebSocketApp.Hello, Encoding.UTF8.GetString(hello));

        await AssertEchoAsync(ws, WebSocketMessageType.Text, Encoding.UTF8.GetBytes("text, ünïcode ✓"), deadline.Token);
        await AssertEchoAsync(ws, WebSocketMessageType.Binary, [0, 1, 2, 0x7f, 0x80, 0xff, 0], deadline.Token);
        var large = new byte[1024 * 1024];
        new Random(7).NextBytes(large);
        await AssertEchoAsync(ws, WebSocketMessageType.Binary, large, deadline.Token);
        await AssertEchoAsync(ws, WebSocketMessageType.Text, Encoding.UTF8.GetBytes("after the large one"), deadline.Token);

        await ws.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", deadline.Token);
        Assert.Equal(WebSocketState.Closed, ws.State);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, ws.CloseStatus);
        Assert.Equal("bye", ws.CloseStatusDescription);
        Assert.Equal("close NormalClosure done", await app.NextEndAsync());
    }

    private static async Task AssertEchoAsync(WebSocket ws, WebSocketMessageType type, byte[] message, CancellationToken token)
    {
        // Receive while sending: a 1 MB echo not read meanwhile would fill every buffer on the way and stall both ends.
        var echo = ReceiveAsync(ws, token);
        await ws.SendAsync(message, type, endOfMessage: true, token);
        var (echoType, data) = await echo;
        Assert.Equal(type, echoType);
        Assert.Equal(message.Length, data.Length);
        Assert.True(message.AsSpan().SequenceEqual(data), "the echo differs from what was sent");
    }

    private static async Task<(WebSocketMessageType Type, byte[] Data)> ReceiveAsync(WebSocket ws, CancellationToken token)
    {
        var buffer = new byte[64 * 1024];
        using var message = new MemoryStream();
        while (true)
        {
            var result = await ws.ReceiveAsync(buffer, token);
            message.Write(buffer, 0, result.Count);
            if (result.EndOfMessage)
                return (result.MessageType, message.ToArray());
        }
    }

    private static async Task<string> ReadHeadAsync(Socket socket)
    {
        var head = new StringBuilder();
        var one = new byte[1];
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal) && await socket.ReceiveAsync(one) == 1)
            head.Append((char)one[0]);
        return head.ToString();
    }
}
