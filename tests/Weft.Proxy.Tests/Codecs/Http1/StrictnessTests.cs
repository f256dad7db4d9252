using Microsoft.AspNetCore.Http;
using Weft.Proxy.Codecs.Http1;
using Weft.Proxy.Tests.Support;

namespace Weft.Proxy.Tests.Codecs.Http1;

/// <summary>
/// Ambiguous or malformed requests: 400 (or the limit's status) from the proxy itself, the
/// connection closed, and not one byte at the upstream.
/// </summary>
public sealed class StrictnessTests
{
    public static TheoryData<string, string> Malformed => new()
    {
        { "CL with TE", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" },
        { "TE with CL", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" },
        { "two different CLs", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!" },
        { "CL list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\nhello!" },
        { "CL not digits", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello" },
        { "CL negative", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n" },
        { "TE xchunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n" },
        { "TE chunked, identity", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n" },
        { "TE identity, chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity, chunked\r\n\r\n0\r\n\r\n" },
        { "TE twice", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" },
        { "TE with vertical tab", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\u000Bchunked\r\n\r\n0\r\n\r\n" },
        { "TE line with leading space", "POST / HTTP/1.1\r\nHost: a\r\n Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" },
        { "space before colon", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n" },
        { "tab before colon", "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n" },
        { "obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX-A: one\r\n two\r\n\r\n" },
        { "TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" },
        { "bad chunk size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n" },
        { "chunk size overflow", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000005\r\nhello\r\n0\r\n\r\n" },
        { "chunk size with sign", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n" },
        { "chunk size 0x prefix", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n" },
        { "chunk without CRLF after data", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n" },
        { "chunk line bare LF", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n" },
        { "NUL in value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\0b\r\n\r\n" },
        { "CR in value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\rb\r\n\r\n" },
        { "LF in value (bare LF line end)", "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\nX-B: b\r\n\r\n" },
        { "NUL in name", "GET / HTTP/1.1\r\nHost: a\r\nX-\0A: b\r\n\r\n" },
        { "CR in name", "GET / HTTP/1.1\r\nHost: a\r\nX-\rA: b\r\n\r\n" },
        { "empty name", "GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n" },
        { "no colon", "GET / HTTP/1.1\r\nHost: a\r\nX-A b\r\n\r\n" },
        { "no Host in 1.1", "GET / HTTP/1.1\r\nX-A: b\r\n\r\n" },
        { "two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n" },
        { "bad version", "GET / HTTP/1.2\r\nHost: a\r\n\r\n" },
        { "lowercase version", "GET / http/1.1\r\nHost: a\r\n\r\n" },
        { "bad method", "GE(T / HTTP/1.1\r\nHost: a\r\n\r\n" },
        { "space in target", "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n" },
        { "two spaces after method", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n" },
        { "bare LF request line", "GET / HTTP/1.1\nHost: a\r\n\r\n" },
        { "DEL in value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\u007Fb\r\n\r\n" },
        // Chunk extensions to RFC 9112 7.1.1's grammar: *( BWS ";" BWS token [ BWS "=" BWS ( token / quoted-string ) ] ).
        { "chunk ext without a name", Chunked("5;\r\nhello\r\n0\r\n\r\n") },
        { "chunk ext name missing before =", Chunked("5;=x\r\nhello\r\n0\r\n\r\n") },
        { "chunk ext value missing", Chunked("5;a=\r\nhello\r\n0\r\n\r\n") },
        { "chunk ext name with a space inside", Chunked("5;a b\r\nhello\r\n0\r\n\r\n") },
        { "chunk ext value with a space inside", Chunked("5;a=b c\r\nhello\r\n0\r\n\r\n") },
        { "chunk ext name not a token", Chunked("5;a@b\r\nhello\r\n0\r\n\r\n") },
        { "chunk ext quoted string unterminated", Chunked("5;a=\"b\r\nhello\r\n0\r\n\r\n") },
        { "chunk ext quoted string with a CTL", Chunked("5;a=\"b\u0001c\"\r\nhello\r\n0\r\n\r\n") },
        { "chunk ext after a quoted string without ;", Chunked("5;a=\"b\"c\r\nhello\r\n0\r\n\r\n") },
        { "whitespace after the chunk size before the line end", Chunked("5 \r\nhello\r\n0\r\n\r\n") },
        { "whitespace after a chunk ext before the line end", Chunked("5;a=b \r\nhello\r\n0\r\n\r\n") },
        { "chunk ext on the last chunk malformed", Chunked("5\r\nhello\r\n0;\r\n\r\n") },
    };

    private static string Chunked(string body) => "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + body;

    public static TheoryData<string, string> ValidExtensions => new()
    {
        { "name only", "5;name\r\nhello\r\n0\r\n\r\n" },
        { "name=token", "5;name=value\r\nhello\r\n0\r\n\r\n" },
        { "quoted string with an escaped quote", "5;name=\"a \\\" b\"\r\nhello\r\n0\r\n\r\n" },
        { "several, with BWS around ; and =", "5 ; a ; b = c\t;d=\"e\"\r\nhello\r\n0;last=1\r\n\r\n" },
        { "upper-case hex size", "A\r\nhellohello\r\n0\r\n\r\n" },
    };

    [Theory]
    [MemberData(nameof(ValidExtensions))]
    public async Task Chunk_extensions_that_follow_the_grammar_are_accepted_and_dropped(string what, string body)
    {
        await using var backend = await Backend.StartAsync("app", async ctx =>
        {
            var text = await new StreamReader(ctx.Request.Body).ReadToEndAsync();
            await ctx.Response.WriteAsync("body: " + text);
        });
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("app")).Cluster("app", backend.Port).Build());
        await using var client = await RawClient.ConnectAsync(port);
        await client.SendAsync(Chunked(body));
        var response = await client.ReadResponseAsync();
        Assert.True(response.StartsWith("HTTP/1.1 200", StringComparison.Ordinal), what + ": " + response);
        Assert.Contains("body: hello", response);
    }

    [Theory]
    [MemberData(nameof(Malformed))]
    public async Task Malformed_request_gets_400_closes_and_reaches_nothing(string what, string request)
    {
        await using var upstream = new RecordingUpstream();
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("app")).Cluster("app", upstream.Port).Build());

        await using var client = await RawClient.ConnectAsync(port);
        await client.SendAsync(request);
        var (text, closed) = await client.ReadToEndAsync();
        Assert.True(text.StartsWith("HTTP/1.1 400 ", StringComparison.Ordinal), what + ": " + text);
        Assert.Contains("x-weft-reason: malformed_request", text);
        Assert.True(closed, what + ": connection left open");
        Assert.Equal(0, upstream.Connections);
        Assert.Equal(0, upstream.BytesReceived);
    }

    [Fact]
    public async Task A_valid_request_on_the_same_setup_reaches_the_upstream()
    {
        await using var upstream = new RecordingUpstream();
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("app")).Cluster("app", upstream.Port).Build());

        await using var client = await RawClient.ConnectAsync(port);
        await client.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n");
        var first = await client.ReadResponseAsync();
        var second = await client.ReadResponseAsync();
        Assert.StartsWith("HTTP/1.1 200 OK", first);
        Assert.EndsWith("ok", first);
        Assert.StartsWith("HTTP/1.1 200 OK", second);
        Assert.Equal(1, upstream.Connections);     // keep-alive on both sides
    }

    public static TheoryData<string, string, string> OverLimits => new()
    {
        { "431", "header block", "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + new string('a', 40 * 1024) + "\r\n\r\n" },
        { "431", "header count", "GET / HTTP/1.1\r\nHost: a\r\n" + string.Concat(Enumerable.Range(0, 120).Select(i => $"X-{i}: v\r\n")) + "\r\n" },
        { "414", "target", "GET /" + new string('a', 9 * 1024) + " HTTP/1.1\r\nHost: a\r\n\r\n" },
        { "414", "target without line end yet", "GET /" + new string('a', 20 * 1024) },
    };

    [Theory]
    [MemberData(nameof(OverLimits))]
    public async Task Over_a_limit_gets_its_status_and_closes(string status, string what, string request)
    {
        await using var upstream = new RecordingUpstream();
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("app")).Cluster("app", upstream.Port).Build());

        await using var client = await RawClient.ConnectAsync(port);
        await client.SendAsync(request);
        var (text, closed) = await client.ReadToEndAsync();
        Assert.True(text.StartsWith("HTTP/1.1 " + status + " ", StringComparison.Ordinal), what + ": " + text[..Math.Min(200, text.Length)]);
        Assert.True(closed);
        Assert.Equal(0, upstream.BytesReceived);
    }

    [Fact]
    public async Task Limits_are_configurable()
    {
        await using var upstream = new RecordingUpstream();
        await using var proxy = await TestProxy.StartAsync(options: new ProxyHostOptions { Http1Limits = new Http1Limits { MaxHeaderCount = 3 } });
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("app")).Cluster("app", upstream.Port).Build());

        await using var client = await RawClient.ConnectAsync(port);
        await client.SendAsync("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n");
        var (text, _) = await client.ReadToEndAsync();
        Assert.StartsWith("HTTP/1.1 431 ", text);
    }
}
