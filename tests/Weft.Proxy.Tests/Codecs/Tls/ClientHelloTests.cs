using System.Buffers;
using Weft.Proxy.Codecs.Tls;

namespace Weft.Proxy.Tests.Codecs.Tls;

public class ClientHelloTests
{
    private static (ClientHelloStatus Status, string? Name) Parse(ReadOnlySequence<byte> bytes)
    {
        var status = ClientHello.TryReadServerName(bytes, out var name);
        return (status, name);
    }

    private static (ClientHelloStatus Status, string? Name) Parse(byte[] bytes) => Parse(new ReadOnlySequence<byte>(bytes));

    [Fact]
    public async Task Reads_the_server_name_of_a_real_client_hello()
    {
        var hello = await TlsTestSupport.CaptureClientHelloAsync("db.example.com");
        Assert.Equal((ClientHelloStatus.Complete, "db.example.com"), Parse(hello));
    }

    [Fact]
    public async Task Server_names_are_lower_case()
    {
        var hello = await TlsTestSupport.CaptureClientHelloAsync("DB.Example.COM");
        Assert.Equal((ClientHelloStatus.Complete, "db.example.com"), Parse(hello));
    }

    [Fact]
    public async Task A_client_hello_without_sni_is_complete_with_no_name()
    {
        // SslStream sends no SNI for an IP address (RFC 6066 forbids literal addresses).
        var hello = await TlsTestSupport.CaptureClientHelloAsync("127.0.0.1");
        Assert.Equal((ClientHelloStatus.Complete, null), Parse(hello));
    }

    [Fact]
    public async Task Every_prefix_is_incomplete_and_every_split_into_segments_reads_the_same()
    {
        var hello = await TlsTestSupport.CaptureClientHelloAsync("api.svc.example");
        for (var n = 1; n < hello.Length; n++)
            Assert.Equal(ClientHelloStatus.Incomplete, Parse(hello[..n]).Status);
        for (var cut = 1; cut < hello.Length; cut += 7)
            Assert.Equal((ClientHelloStatus.Complete, "api.svc.example"), Parse(TlsTestSupport.Segmented(hello, cut)));
        // One byte per segment: the worst a slow network can do.
        Assert.Equal((ClientHelloStatus.Complete, "api.svc.example"), Parse(TlsTestSupport.Segmented(hello, Enumerable.Repeat(1, hello.Length).ToArray())));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(64)]
    [InlineData(500)]
    public async Task A_client_hello_split_across_tls_records_is_reassembled(int recordSize)
    {
        var hello = await TlsTestSupport.CaptureClientHelloAsync("split.example");
        var records = TlsTestSupport.Rerecord(hello, recordSize);
        Assert.Equal((ClientHelloStatus.Complete, "split.example"), Parse(records));
        Assert.Equal(ClientHelloStatus.Incomplete, Parse(records[..^1]).Status);
        Assert.Equal((ClientHelloStatus.Complete, "split.example"), Parse(TlsTestSupport.Segmented(records, 2, 5, 1, 11)));
    }

    [Theory]
    [InlineData(new byte[] { (byte)'G', (byte)'E', (byte)'T', (byte)' ' })]
    [InlineData(new byte[] { 0x16, 0x02 })]
    [InlineData(new byte[] { 0x17, 0x03, 0x03, 0x00, 0x10 })]
    [InlineData(new byte[] { 0x16, 0x03, 0x01, 0x00, 0x00 })]                           // empty record
    [InlineData(new byte[] { 0x16, 0x03, 0x01, 0x40, 0x01 })]                           // record over 2^14
    [InlineData(new byte[] { 0x16, 0x03, 0x01, 0x00, 0x04, 0x02, 0x00, 0x00, 0x00 })]   // ServerHello, not ClientHello
    [InlineData(new byte[] { 0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0xff, 0xff, 0xff })]   // 16 MB handshake: over the bound
    [InlineData(new byte[] { 0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x00, 0x00, 0x00 })]   // empty ClientHello body
    public void Garbage_is_invalid(byte[] bytes)
    {
        Assert.Equal(ClientHelloStatus.Invalid, Parse(bytes).Status);
    }

    [Fact]
    public async Task Lengths_that_overrun_their_container_are_invalid_not_exceptions()
    {
        var hello = await TlsTestSupport.CaptureClientHelloAsync("fuzz.example");
        var random = new Random(1234);
        // Every single-byte corruption of a real hello, plus random ones: the parser answers, never throws.
        for (var i = 0; i < hello.Length; i++)
        {
            foreach (var value in new byte[] { 0x00, 0xff, (byte)(hello[i] ^ 0x80) })
            {
                var copy = (byte[])hello.Clone();
                copy[i] = value;
                _ = Parse(copy);
            }
        }
        for (var i = 0; i < 2000; i++)
        {
            var junk = new byte[random.Next(1, 600)];
            random.NextBytes(junk);
            junk[0] = 0x16;
            if (junk.Length > 1) junk[1] = 0x03;
            var (status, name) = Parse(junk);
            Assert.True(status != ClientHelloStatus.Complete || name is null || name.All(c => c < 128));
        }
    }

    [Fact]
    public async Task A_server_name_with_bytes_no_host_name_has_is_invalid()
    {
        var hello = await TlsTestSupport.CaptureClientHelloAsync("abc.example");
        var at = IndexOf(hello, "abc.example"u8.ToArray());
        hello[at + 1] = (byte)'\n';
        Assert.Equal(ClientHelloStatus.Invalid, Parse(hello).Status);
    }

    [Fact]
    public void A_handshake_still_incomplete_past_the_buffer_bound_is_bounded()
    {
        // A 60 KB ClientHello declared, sent one byte per record: the caller stops at MaxBufferedBytes.
        Assert.True(ClientHello.MaxBufferedBytes < 100 * 1024);
        var header = new byte[] { 0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x00, 0xf0, 0x00 };
        Assert.Equal(ClientHelloStatus.Incomplete, Parse(header).Status);
    }

    private static int IndexOf(byte[] haystack, byte[] needle) => haystack.AsSpan().IndexOf(needle);
}
