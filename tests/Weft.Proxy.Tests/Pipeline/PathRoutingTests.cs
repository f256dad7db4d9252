using System.Net;
using System.Text;
using Weft.Protocol.Discovery;
using Weft.Proxy.Tests.Codecs.Http1;
using Weft.Proxy.Tests.Support;

namespace Weft.Proxy.Tests.Pipeline;

/// <summary>
/// The path as routed is the path the app receives: normalized once, on every codec. What an app
/// could read as another path than the one routed (encoded slashes, backslashes, dot segments with
/// parameters) is refused with 400, unless the mesh says to keep such paths as sent.
/// </summary>
public sealed class PathRoutingTests
{
    public static TheoryData<string, string> Codecs => new()
    {
        { "lean HTTP/1.1", "/public/..;/secret" }, { "lean HTTP/1.1", "/public/..%2Fsecret" }, { "lean HTTP/1.1", "/public/..%5Csecret" },
        { "lean HTTP/1.1", "/public/..\\secret" }, { "lean HTTP/1.1", "/public/%2e%2e;x/secret" },
        { "Kestrel HTTP/1.1", "/public/..;/secret" }, { "Kestrel HTTP/1.1", "/public/..%2Fsecret" }, { "Kestrel HTTP/1.1", "/public/..%5Csecret" },
        { "Kestrel HTTP/1.1", "/public/..\\secret" },
        { "h2c", "/public/..;/secret" }, { "h2c", "/public/..%2Fsecret" }, { "h2c", "/public/..%5Csecret" }, { "h2c", "/public/..\\secret" },
    };

    [Theory]
    [MemberData(nameof(Codecs))]
    public async Task An_ambiguous_path_is_refused_with_400_and_reaches_no_app(string codec, string path)
    {
        await using var mesh = await Mesh.StartAsync(codec);
        var (status, reason, body) = await mesh.SendAsync(path);
        Assert.Equal(400, status);
        Assert.Equal("bad_path", reason);
        Assert.Contains("ambiguous or malformed", body);
        Assert.Equal(0, mesh.Public.Requests + mesh.Other.Requests);
    }

    public static TheoryData<string, string, string, string> Normalized => new()
    {
        // codec, sent, the backend that must get it, the target it must get
        { "lean HTTP/1.1", "/public/./a/../b//c%41", "public", "/public/b/cA" },
        { "lean HTTP/1.1", "/x/../public/y?q=%2F", "public", "/public/y?q=%2F" },
        { "lean HTTP/1.1", "/public/../secret", "other", "/secret" },
        { "lean HTTP/1.1", "/%70ublic/z", "public", "/public/z" },
        { "Kestrel HTTP/1.1", "/public/./a/../b//c%41", "public", "/public/b/cA" },
        { "Kestrel HTTP/1.1", "/public/../secret", "other", "/secret" },
        { "h2c", "/public/./a/../b//c%41", "public", "/public/b/cA" },
        { "h2c", "/public/../secret", "other", "/secret" },
    };

    [Theory]
    [MemberData(nameof(Normalized))]
    public async Task A_path_reaches_the_app_exactly_as_it_was_routed(string codec, string sent, string backend, string target)
    {
        await using var mesh = await Mesh.StartAsync(codec);
        var (status, _, body) = await mesh.SendAsync(sent);
        Assert.Equal(200, status);
        Assert.Contains($"backend: {backend}\n", body);
        Assert.Contains($"target: {target}\n", body);
    }

    [Fact]
    public async Task With_ambiguous_paths_kept_an_encoded_slash_is_matched_and_forwarded_as_sent()
    {
        await using var mesh = await Mesh.StartAsync("lean HTTP/1.1", new ProxySettings { AmbiguousPaths = AmbiguousPathAction.AmbiguousPathKeep });
        var (status, _, body) = await mesh.SendAsync("/public/files/a%2fb");
        Assert.Equal(200, status);
        Assert.Contains("backend: public\n", body);
        Assert.Contains("target: /public/files/a%2Fb\n", body);
        // Kept means one segment: "..%2F" is no dot segment, so it cannot climb out of /public.
        (status, _, body) = await mesh.SendAsync("/public/..%2Fsecret");
        Assert.Equal(200, status);
        Assert.Contains("backend: public\n", body);
    }

    private sealed class Mesh : IAsyncDisposable
    {
        private readonly string _codec;
        private readonly TestProxy _proxy;
        private readonly int _port;

        private Mesh(string codec, Backend @public, Backend other, TestProxy proxy, int port)
        {
            _codec = codec;
            Public = @public;
            Other = other;
            _proxy = proxy;
            _port = port;
        }

        public Backend Public { get; }
        public Backend Other { get; }

        public static async Task<Mesh> StartAsync(string codec, ProxySettings? settings = null)
        {
            var @public = await Backend.StartAsync("public");
            var other = await Backend.StartAsync("other");
            var proxy = await TestProxy.StartAsync(options: new ProxyHostOptions { LeanHttp1 = codec != "Kestrel HTTP/1.1" });
            var port = TestProxy.FreePort();
            await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port)
                .Routes("rt", ConfigBuilder.Route("public", [ConfigBuilder.Prefix("/public")], ("public", 1)), ConfigBuilder.Route("other", null, ("other", 1)))
                .Cluster("public", @public.Port).Cluster("other", other.Port).Settings(settings).Build());
            return new Mesh(codec, @public, other, proxy, port);
        }

        /// <summary>Sends the path exactly as given (no client normalizes it first): raw bytes on HTTP/1.1, a raw :path on h2c.</summary>
        public async Task<(int Status, string? Reason, string Body)> SendAsync(string path)
        {
            if (_codec == "h2c")
            {
                await using var h2 = await RawH2Client.ConnectAsync(_port);
                var (h2Status, h2Body) = await h2.GetAsync(path);
                // The reason's header needs an HPACK decoder this client does not have; the body names it too.
                return (h2Status, h2Status == 400 && h2Body.Contains("ambiguous", StringComparison.Ordinal) ? "bad_path" : null, h2Body);
            }
            await using var client = await RawClient.ConnectAsync(_port);
            await client.SendAsync($"GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
            var (text, _) = await client.ReadToEndAsync();
            var head = text[..text.IndexOf("\r\n\r\n", StringComparison.Ordinal)];
            var status = int.Parse(head.Substring(9, 3), System.Globalization.CultureInfo.InvariantCulture);
            var reason = head.Split("\r\n").FirstOrDefault(l => l.StartsWith("x-weft-reason: ", StringComparison.OrdinalIgnoreCase))?[15..];
            var body = text[(text.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)..];
            return (status, reason, head.Contains("Transfer-Encoding: chunked", StringComparison.OrdinalIgnoreCase) ? ChunkedBody.Decode(body) : body);
        }

        public async ValueTask DisposeAsync()
        {
            await _proxy.DisposeAsync();
            await Public.DisposeAsync();
            await Other.DisposeAsync();
        }
    }
}
