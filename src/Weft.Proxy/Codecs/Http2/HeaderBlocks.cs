using System.Text;
using Weft.Proxy.Codecs.Http2.Hpack;
using Weft.Proxy.Pipeline;

namespace Weft.Proxy.Codecs.Http2;

/// <summary>
/// Header views into HPACK, for both sides: the fields of a <see cref="FieldList"/> (what an HTTP/2
/// peer sent) are copied as bytes; any other view (HTTP/1.1's, a list built by hand) is first listed
/// as strings into a scratch list (cold on the HTTP/2-to-HTTP/2 path). Connection-specific fields never
/// go out (RFC 9113 8.2.2); names go out lowercase.
/// </summary>
internal static class HeaderBlocks
{
    /// <summary>Lists a view that is not a FieldList into <paramref name="scratch"/>; returns the FieldList, or null when the scratch list holds the fields.</summary>
    public static FieldList? Prepare(HeaderView headers, HeaderList scratch)
    {
        if (headers is FieldList fields)
            return fields;
        scratch.Clear();
        headers.CopyTo(scratch, toHttp2: true);
        return null;
    }

    /// <summary>Upper bound of the encoded fields (prepared by <see cref="Prepare"/>), the authority (host) left out when <paramref name="skipHost"/>.</summary>
    public static int MaxLength(FieldList? fields, HeaderList scratch, bool skipHost)
    {
        var length = 0;
        if (fields is not null)
        {
            for (var i = 0; i < fields.Length; i++)
            {
                if (fields.TryGet(i, out var name, out var value))
                    length += HpackEncoder.MaxFieldLength(name.Length, value.Length);
            }
            return length;
        }
        for (var i = 0; i < scratch.Length; i++)
        {
            var (name, value) = scratch[i];
            length += HpackEncoder.MaxFieldLength(name.Length, value.Length);
        }
        return length;
    }

    /// <summary>Encodes the fields (prepared by <see cref="Prepare"/>); the host field is left out when <paramref name="skipHost"/> (it went as :authority).</summary>
    public static int Encode(FieldList? fields, HeaderList scratch, bool skipHost, Span<byte> destination)
    {
        var at = 0;
        if (fields is not null)
        {
            for (var i = 0; i < fields.Length; i++)
            {
                if (!fields.TryGet(i, out var name, out var value) || !FieldList.Forwards(name, toHttp2: true))
                    continue;
                if (skipHost && IsHost(name))
                    continue;
                at += HpackEncoder.WriteField(name, value, destination[at..]);
            }
            return at;
        }
        for (var i = 0; i < scratch.Length; i++)
        {
            var (name, value) = scratch[i];
            if (skipHost && string.Equals(name, "host", StringComparison.OrdinalIgnoreCase))
                continue;
            at += HpackEncoder.WriteField(name, value, destination[at..]);
        }
        return at;
    }

    public static bool IsHost(ReadOnlySpan<byte> name) => name.Length == 4 && name.SequenceEqual("host"u8);

    /// <summary>An HTTP/2 response head: :status, the fields, content-length when known.</summary>
    public readonly struct Response(int status, FieldList? fields, HeaderList scratch, long contentLength) : IHeaderBlock
    {
        public int MaxLength => 8 + HeaderBlocks.MaxLength(fields, scratch, skipHost: false) + HpackEncoder.MaxFieldLength(14, 20);

        public int Encode(Span<byte> destination)
        {
            var at = HpackEncoder.WriteStatus(status, destination);
            at += HeaderBlocks.Encode(fields, scratch, skipHost: false, destination[at..]);
            if (contentLength >= 0)
            {
                Span<byte> digits = stackalloc byte[20];
                contentLength.TryFormat(digits, out var written, default, System.Globalization.CultureInfo.InvariantCulture);
                at += HpackEncoder.WriteField("content-length"u8, digits[..written], destination[at..]);
            }
            return at;
        }
    }

    /// <summary>Trailers: the fields only.</summary>
    public readonly struct Trailers(FieldList? fields, HeaderList scratch) : IHeaderBlock
    {
        public int MaxLength => HeaderBlocks.MaxLength(fields, scratch, skipHost: false);

        public int Encode(Span<byte> destination) => HeaderBlocks.Encode(fields, scratch, skipHost: false, destination);
    }

    /// <summary>The proxy's own answer: status, content type, x-weft-reason, content-length.</summary>
    public readonly struct LocalReply(int status, string reason, int contentLength) : IHeaderBlock
    {
        public int MaxLength => 8 + HpackEncoder.MaxFieldLength(12, 25) + HpackEncoder.MaxFieldLength(13, reason.Length) + HpackEncoder.MaxFieldLength(14, 11);

        public int Encode(Span<byte> destination)
        {
            var at = HpackEncoder.WriteStatus(status, destination);
            at += HpackEncoder.WriteField("content-type"u8, "text/plain; charset=utf-8"u8, destination[at..]);
            at += HpackEncoder.WriteField(LocalReplies.ReasonHeader, reason, destination[at..]);
            Span<byte> digits = stackalloc byte[11];
            contentLength.TryFormat(digits, out var written, default, System.Globalization.CultureInfo.InvariantCulture);
            at += HpackEncoder.WriteField("content-length"u8, digits[..written], destination[at..]);
            return at;
        }
    }

    /// <summary>No fields: a stream's end without trailers.</summary>
    /// <summary>A block encoded earlier (trailers kept until the body before them is sent).</summary>
    public readonly struct Encoded(byte[] bytes, int length) : IHeaderBlock
    {
        public int MaxLength => length;

        public int Encode(Span<byte> destination)
        {
            bytes.AsSpan(0, length).CopyTo(destination);
            return length;
        }
    }

    public readonly struct None : IHeaderBlock
    {
        public int MaxLength => 0;

        public int Encode(Span<byte> destination) => 0;
    }

    public static int Utf8Length(string message) => Encoding.UTF8.GetByteCount(message);
}
