using System.Buffers.Binary;
using System.Net;
using System.Net.Http.Headers;
using Google.Protobuf;
using Weft.Protocol.Grpc;
using Weft.Protocol.Shop;

namespace Weft.Protocol.Tests.Grpc;

/// <summary>What our server puts on the wire, seen by a plain HTTP/2 client (no gRPC code of ours).</summary>
public sealed class ServerProtocolTests : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);
    private readonly EchoService _echo = new();
    private KestrelHost _host = null!;
    private HttpClient _http = null!;

    public async Task InitializeAsync()
    {
        var server = new GrpcServer();
        _echo.Register(server);
        _host = await KestrelHost.StartAsync(server.HandleAsync);
        _http = new HttpClient(new SocketsHttpHandler())
        {
            BaseAddress = _host.Address,
            DefaultRequestVersion = HttpVersion.Version20,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _host.DisposeAsync();
    }

    private static byte[] Frame(IMessage message, byte compressed = 0)
    {
        byte[] body = message.ToByteArray();
        byte[] frame = new byte[5 + body.Length];
        frame[0] = compressed;
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)body.Length);
        body.CopyTo(frame, 5);
        return frame;
    }

    private async Task<HttpResponseMessage> PostAsync(string path, byte[] body, string contentType = "application/grpc", string? timeout = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path)
        {
            Content = new ByteArrayContent(body),
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        request.Headers.TE.ParseAdd("trailers");
        if (timeout is not null)
        {
            request.Headers.TryAddWithoutValidation("grpc-timeout", timeout);
        }
        return await _http.SendAsync(request).WaitAsync(Patience);
    }

    private static string? Header(HttpHeaders headers, string name) =>
        headers.TryGetValues(name, out var values) ? string.Join(",", values) : null;

    [Fact]
    public async Task Wrong_content_type_is_415_with_a_grpc_status()
    {
        using HttpResponseMessage response = await PostAsync("/shop.v1.Echo/Unary", Frame(new EchoMessage()), "application/json");
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
        Assert.Equal("13", Header(response.Headers, "grpc-status"));
    }

    [Fact]
    public async Task Ok_response_has_grpc_content_type_message_and_status_in_trailers()
    {
        using HttpResponseMessage response = await PostAsync("/shop.v1.Echo/ServerStream", Frame(new EchoMessage { Text = "t", Repeat = 2 }));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/grpc", response.Content.Headers.ContentType?.MediaType);
        Assert.Null(Header(response.Headers, "grpc-status"));
        byte[] body = await response.Content.ReadAsByteArrayAsync();
        var texts = new List<string>();
        for (int at = 0; at < body.Length;)
        {
            Assert.Equal(0, body[at]);
            int length = (int)BinaryPrimitives.ReadUInt32BigEndian(body.AsSpan(at + 1));
            texts.Add(EchoMessage.Parser.ParseFrom(body.AsSpan(at + 5, length)).Text);
            at += 5 + length;
        }
        Assert.Equal(["t-0", "t-1"], texts);
        Assert.Equal("0", Header(response.TrailingHeaders, "grpc-status"));
    }

    [Fact]
    public async Task Error_before_any_message_is_trailers_only_with_percent_encoded_message()
    {
        using HttpResponseMessage response = await PostAsync("/shop.v1.Echo/Unary",
            Frame(new EchoMessage { Text = "a%b é", FailCode = (int)StatusCode.NotFound }));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("5", Header(response.Headers, "grpc-status"));
        Assert.Equal("failed: a%25b %C3%A9", Header(response.Headers, "grpc-message"));
        Assert.Empty(await response.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task Compressed_message_is_rejected_because_no_encoding_was_negotiated()
    {
        using HttpResponseMessage response = await PostAsync("/shop.v1.Echo/Unary", Frame(new EchoMessage { Text = "z" }, compressed: 1));
        Assert.Equal("12", Header(response.Headers, "grpc-status"));
    }

    [Fact]
    public async Task Missing_request_message_is_internal()
    {
        using HttpResponseMessage response = await PostAsync("/shop.v1.Echo/Unary", []);
        Assert.Equal("13", Header(response.Headers, "grpc-status"));
    }

    [Fact]
    public async Task Truncated_frame_is_internal()
    {
        byte[] frame = Frame(new EchoMessage { Text = "truncated" });
        using HttpResponseMessage response = await PostAsync("/shop.v1.Echo/Unary", frame[..^3]);
        Assert.Equal("13", Header(response.Headers, "grpc-status"));
    }

    [Fact]
    public async Task Server_enforces_grpc_timeout_with_deadline_exceeded()
    {
        // Only the server knows the deadline here: this plain client never cancels anything.
        using HttpResponseMessage response = await PostAsync("/shop.v1.Echo/Unary", Frame(new EchoMessage { DelayMs = 60_000 }), timeout: "200m");
        Assert.Equal("4", Header(response.Headers, "grpc-status"));
        await _echo.CancellationSeen.Task.WaitAsync(Patience);
    }

    [Fact]
    public async Task Unknown_path_is_unimplemented()
    {
        using HttpResponseMessage response = await PostAsync("/no.Such/Method", Frame(new EchoMessage()));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("12", Header(response.Headers, "grpc-status"));
    }
}
