using Microsoft.AspNetCore.Http;
using Weft.Proxy.Tests.Support;

namespace Weft.Proxy.Tests.Codecs.Http1;

/// <summary>An HTTP/1.0 client knows no 1xx: it never gets one, on either HTTP/1.1 codec.</summary>
public sealed class Http10Tests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Expect_100_continue_from_an_http10_client_gets_no_interim_response(bool lean)
    {
        await using var backend = await Backend.StartAsync("app", async ctx =>
        {
            var text = await new StreamReader(ctx.Request.Body).ReadToEndAsync();
            await ctx.Response.WriteAsync("got " + text);
        });
        await using var proxy = await TestProxy.StartAsync(options: new ProxyHostOptions { LeanHttp1 = lean });
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("app")).Cluster("app", backend.Port).Build());
        await using var client = await RawClient.ConnectAsync(port);
        await client.SendAsync("POST /e HTTP/1.0\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
        // An HTTP/1.0 client sends its body at once (it does not wait for a 100 it cannot know).
        await client.SendAsync("hello");
        var (text, _) = await client.ReadToEndAsync();
        Assert.DoesNotContain(" 100 ", text);
        Assert.StartsWith("HTTP/1.1 200", text);
        Assert.EndsWith("got hello", text);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task An_interim_response_from_the_upstream_never_reaches_an_http10_client(bool lean)
    {
        using var upstream = OneConnectionUpstream.Start(received => received.Contains("\r\n\r\n", StringComparison.Ordinal), async socket =>
        {
            await socket.SendAsync(System.Text.Encoding.ASCII.GetBytes(
                "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal"));
        });
        await using var proxy = await TestProxy.StartAsync(options: new ProxyHostOptions { LeanHttp1 = lean });
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("app")).Cluster("app", upstream.Port).Build());
        await using var client = await RawClient.ConnectAsync(port);
        await client.SendAsync("GET /hints HTTP/1.0\r\n\r\n");
        var (text, _) = await client.ReadToEndAsync();
        Assert.DoesNotContain("103", text);
        Assert.StartsWith("HTTP/1.1 200", text);
        Assert.EndsWith("final", text);
    }
}
