using Weft.Protocol.Grpc;

namespace Weft.Protocol.Tests.Grpc;

public sealed class GrpcHeadersTests
{
    [Theory]
    [InlineData("2H", 2 * 3600_000.0)]
    [InlineData("3M", 180_000.0)]
    [InlineData("4S", 4_000.0)]
    [InlineData("250m", 250.0)]
    [InlineData("1500u", 1.5)]
    [InlineData("2000000n", 2.0)]
    [InlineData("99999999S", 99_999_999_000.0)]
    public void Timeout_units_parse(string value, double expectedMs)
    {
        Assert.True(GrpcHeaders.TryParseTimeout(value, out TimeSpan timeout));
        Assert.Equal(expectedMs, timeout.TotalMilliseconds, 3);
    }

    [Theory]
    [InlineData("")]
    [InlineData("S")]
    [InlineData("10")]
    [InlineData("10x")]
    [InlineData("-1S")]
    [InlineData("123456789S")]
    public void Malformed_timeouts_are_rejected(string value) => Assert.False(GrpcHeaders.TryParseTimeout(value, out _));

    [Theory]
    [InlineData(250.0, "250m")]
    [InlineData(0.2, "1m")]
    [InlineData(200_000_000.0, "200000S")]
    public void Timeouts_format_within_eight_digits(double ms, string expected) =>
        Assert.Equal(expected, GrpcHeaders.FormatTimeout(TimeSpan.FromMilliseconds(ms)));

    [Theory]
    [InlineData("plain text", "plain text")]
    [InlineData("100%", "100%25")]
    [InlineData("é\n", "%C3%A9%0A")]
    public void Messages_are_percent_encoded_and_decode_back(string message, string wire)
    {
        Assert.Equal(wire, GrpcHeaders.EncodeMessage(message));
        Assert.Equal(message, GrpcHeaders.DecodeMessage(wire));
    }

    [Fact]
    public void Malformed_escapes_are_kept() => Assert.Equal("50%zz", GrpcHeaders.DecodeMessage("50%zz"));
}
