using System.Buffers;
using System.Text;
using Weft.Proxy.Listeners;

namespace Weft.Proxy.Tests.Listeners;

public class ProtocolSnifferTests
{
    private static DetectedProtocol? Classify(string text) => ProtocolSniffer.Classify(new ReadOnlySequence<byte>(Encoding.Latin1.GetBytes(text)));

    [Theory]
    [InlineData("GET / HTTP/1.1\r\nHost: x\r\n\r\n", "Http1")]
    [InlineData("POST /orders?id=1 HTTP/1.0\r\n", "Http1")]
    [InlineData("OPTIONS * HTTP/1.1\r\n", "Http1")]
    [InlineData("GET / HTTP/1.1\n", "Http1")]
    [InlineData("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "Http2")]
    [InlineData("\u0016\u0003\u0001\u0002\u0000", "Tls")]
    [InlineData("\u0016\u0001", "Tcp")]
    [InlineData("EHLO mail.example\r\n", "Tcp")]          // a token but no HTTP version
    [InlineData("GET / HTTP/2.0\r\n", "Tcp")]
    [InlineData("get / HTTP/1.1\r\n", "Tcp")]             // methods are upper case
    [InlineData("*1\r\n$4\r\nPING\r\n", "Tcp")]           // redis
    [InlineData("\u0000\u0000\u0000\u0008", "Tcp")]
    [InlineData(" GET / HTTP/1.1\r\n", "Tcp")]
    public void Classifies_first_bytes(string bytes, string expected)
    {
        Assert.Equal(expected, Classify(bytes)?.ToString());
    }

    [Theory]
    [InlineData("")]
    [InlineData("G")]
    [InlineData("GET")]
    [InlineData("GET /some/path HTTP/1.")]
    [InlineData("PRI * HTTP/2.0\r\n")]                                     // a prefix of the h2 preface
    [InlineData("\u0016")]
    public void Waits_while_the_bytes_could_still_be_more_than_one_protocol(string bytes)
    {
        Assert.Null(Classify(bytes));
    }

    [Fact]
    public void A_request_line_over_the_limit_is_not_http()
    {
        Assert.Equal(DetectedProtocol.Tcp, Classify("GET /" + new string('a', ProtocolSniffer.MaxRequestLine)));
        Assert.Equal(DetectedProtocol.Tcp, Classify("GET /" + new string('a', ProtocolSniffer.MaxRequestLine) + " HTTP/1.1\r\n"));
    }
}
