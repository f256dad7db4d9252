using System.Buffers;

namespace Weft.Proxy.Listeners;

/// <summary>What a connection speaks, as detection decided it: the one value ConnectionDispatch switches on.</summary>
internal enum DetectedProtocol
{
    Http1,
    Http2,
    Tls,
    Tcp,
}

/// <summary>
/// Classifies a connection by its first bytes, pure and allocation-free: the h2 preface, a TLS
/// handshake record (0x16 0x03), an HTTP/1 request line (<c>TOKEN SP target SP HTTP/1.x CRLF</c>),
/// or else opaque TCP. Null while the bytes so far could still be more than one of them.
/// </summary>
internal static class ProtocolSniffer
{
    /// <summary>A request line longer than this is not taken for HTTP/1 (Kestrel's default limit is 8 KB too).</summary>
    public const int MaxRequestLine = 8 * 1024;

    private const int MaxMethodLength = 20;

    private static ReadOnlySpan<byte> Preface => "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8;
    private static ReadOnlySpan<byte> Http10 => " HTTP/1.0"u8;
    private static ReadOnlySpan<byte> Http11 => " HTTP/1.1"u8;

    public static DetectedProtocol? Classify(in ReadOnlySequence<byte> buffer)
    {
        if (buffer.IsEmpty)
            return null;
        var first = buffer.FirstSpan[0];
        if (first == 0x16)
        {
            if (buffer.Length < 2)
                return null;
            return buffer.Slice(1, 1).FirstSpan[0] == 0x03 ? DetectedProtocol.Tls : DetectedProtocol.Tcp;
        }
        var preface = ComparePreface(buffer);
        if (preface != false)
            return preface is null ? null : DetectedProtocol.Http2;
        return ClassifyRequestLine(buffer);
    }

    /// <summary>True: the whole preface; null: a prefix of it so far; false: something else.</summary>
    public static bool? ComparePreface(in ReadOnlySequence<byte> buffer)
    {
        var length = (int)Math.Min(buffer.Length, Preface.Length);
        Span<byte> head = stackalloc byte[Preface.Length];
        buffer.Slice(0, length).CopyTo(head);
        if (!head[..length].SequenceEqual(Preface[..length]))
            return false;
        return length == Preface.Length ? true : null;
    }

    private static DetectedProtocol? ClassifyRequestLine(in ReadOnlySequence<byte> buffer)
    {
        var reader = new SequenceReader<byte>(buffer);
        // Method: a token of upper-case letters (RFC 9110 methods in use are), then one space.
        var method = 0;
        while (true)
        {
            if (!reader.TryRead(out var b))
                return null;
            if (b == (byte)' ')
                break;
            if (b is < (byte)'A' or > (byte)'Z' || ++method > MaxMethodLength)
                return DetectedProtocol.Tcp;
        }
        if (method == 0)
            return DetectedProtocol.Tcp;

        // The rest of the line, up to LF: ends with " HTTP/1.0" or " HTTP/1.1" (CR optional, as parsers accept).
        var lineStart = reader.Position;
        if (!reader.TryAdvanceTo((byte)'\n', advancePastDelimiter: false))
            return buffer.Length >= MaxRequestLine ? DetectedProtocol.Tcp : null;
        var line = buffer.Slice(lineStart, reader.Position);
        if (buffer.Slice(0, reader.Position).Length > MaxRequestLine)
            return DetectedProtocol.Tcp;
        Span<byte> tail = stackalloc byte[Http11.Length + 1];
        var n = (int)Math.Min(line.Length, tail.Length);
        line.Slice(line.Length - n).CopyTo(tail);
        var version = tail[..n];
        if (version.Length > 0 && version[^1] == (byte)'\r')
            version = version[..^1];
        if (version.Length > Http11.Length)
            version = version[^Http11.Length..];
        return version.SequenceEqual(Http11) || version.SequenceEqual(Http10) ? DetectedProtocol.Http1 : DetectedProtocol.Tcp;
    }
}
