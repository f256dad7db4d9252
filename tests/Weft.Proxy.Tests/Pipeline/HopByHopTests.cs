using Weft.Proxy.Pipeline;

namespace Weft.Proxy.Tests.Pipeline;

public sealed class HopByHopTests
{
    [Theory]
    [InlineData("Connection", "keep-alive", true)]
    [InlineData("keep-alive", "timeout=5", true)]
    [InlineData("Transfer-Encoding", "chunked", true)]
    [InlineData("Upgrade", "websocket", true)]
    [InlineData("Proxy-Authorization", "Basic x", true)]
    [InlineData("Proxy-Anything", "x", true)]
    [InlineData("TE", "gzip", true)]
    [InlineData("HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA", true)]
    [InlineData("te", "trailers", false)]
    [InlineData("Content-Type", "text/plain", false)]
    [InlineData("x-weft-source", "a;b;c", false)]
    public void Request_headers(string name, string value, bool dropped)
    {
        Assert.Equal(dropped, HopByHop.DropFromRequest(name, value, toHttp2: true));
        // The HTTP/1.1 parser's view of the same name, as bytes: hop-by-hop whatever the value (TE included).
        Assert.Equal(dropped || name.Equals("te", StringComparison.OrdinalIgnoreCase), HopByHop.Is(System.Text.Encoding.ASCII.GetBytes(name)));
    }

    [Fact]
    public void Connection_lists_more_hop_by_hop_headers()
    {
        var tokens = HopByHop.ConnectionTokens(new Microsoft.Extensions.Primitives.StringValues(["close, X-Foo", "x-bar"]));
        Assert.NotNull(tokens);
        Assert.Contains("x-foo", tokens);
        Assert.Contains("X-BAR", tokens);
        Assert.DoesNotContain("close", tokens);
        Assert.Null(HopByHop.ConnectionTokens("keep-alive"));
    }
}
