namespace Weft.Proxy.Codecs.Http2.Hpack;

/// <summary>The static table (RFC 7541 Appendix A).</summary>
internal static class HpackStaticTable
{
    public const int Count = 61;

    /// <summary>
    /// The index of the first static entry with this lowercase name, or 0. The length and one octet pick at most
    /// three candidates, so a miss usually costs no comparison at all.
    /// </summary>
    public static int NameIndex(ReadOnlySpan<byte> name)
    {
        if (name.IsEmpty)
        {
            return 0;
        }

        byte first = name[0];
        switch (name.Length)
        {
            case 3:
                return first switch
                {
                    (byte)'a' => Match(name, "age"u8, 21),
                    (byte)'v' => Match(name, "via"u8, 60),
                    _ => 0,
                };
            case 4:
                return first switch
                {
                    (byte)'d' => Match(name, "date"u8, 33),
                    (byte)'e' => Match(name, "etag"u8, 34),
                    (byte)'f' => Match(name, "from"u8, 37),
                    (byte)'h' => Match(name, "host"u8, 38),
                    (byte)'l' => Match(name, "link"u8, 45),
                    (byte)'v' => Match(name, "vary"u8, 59),
                    _ => 0,
                };
            case 5:
                return first switch
                {
                    (byte)':' => Match(name, ":path"u8, 4),
                    (byte)'a' => Match(name, "allow"u8, 22),
                    (byte)'r' => Match(name, "range"u8, 50),
                    _ => 0,
                };
            case 6:
                return first switch
                {
                    (byte)'a' => Match(name, "accept"u8, 19),
                    (byte)'c' => Match(name, "cookie"u8, 32),
                    (byte)'e' => Match(name, "expect"u8, 35),
                    (byte)'s' => Match(name, "server"u8, 54),
                    _ => 0,
                };
            case 7:
                return first switch
                {
                    (byte)':' => Match(name, ":method"u8, 2) | Match(name, ":scheme"u8, 6) | Match(name, ":status"u8, 8),
                    (byte)'e' => Match(name, "expires"u8, 36),
                    (byte)'r' => Match(name, "referer"u8, 51) | Match(name, "refresh"u8, 52),
                    _ => 0,
                };
            case 8:
                return first switch
                {
                    (byte)'i' => Match(name, "if-match"u8, 39) | Match(name, "if-range"u8, 42),
                    (byte)'l' => Match(name, "location"u8, 46),
                    _ => 0,
                };
            case 10:
                return first switch
                {
                    (byte)':' => Match(name, ":authority"u8, 1),
                    (byte)'s' => Match(name, "set-cookie"u8, 55),
                    (byte)'u' => Match(name, "user-agent"u8, 58),
                    _ => 0,
                };
            case 11:
                return Match(name, "retry-after"u8, 53);
            case 12:
                return first switch
                {
                    (byte)'c' => Match(name, "content-type"u8, 31),
                    (byte)'m' => Match(name, "max-forwards"u8, 47),
                    _ => 0,
                };
            case 13:
                return first switch
                {
                    (byte)'a' => Match(name, "accept-ranges"u8, 18) | Match(name, "authorization"u8, 23),
                    (byte)'c' => Match(name, "cache-control"u8, 24) | Match(name, "content-range"u8, 30),
                    (byte)'i' => Match(name, "if-none-match"u8, 41),
                    (byte)'l' => Match(name, "last-modified"u8, 44),
                    _ => 0,
                };
            case 14:
                return first switch
                {
                    (byte)'a' => Match(name, "accept-charset"u8, 15),
                    (byte)'c' => Match(name, "content-length"u8, 28),
                    _ => 0,
                };
            case 15:
                return Match(name, "accept-encoding"u8, 16) | Match(name, "accept-language"u8, 17);
            case 16:
                return first switch
                {
                    (byte)'c' => Match(name, "content-encoding"u8, 26) | Match(name, "content-language"u8, 27)
                        | Match(name, "content-location"u8, 29),
                    (byte)'w' => Match(name, "www-authenticate"u8, 61),
                    _ => 0,
                };
            case 17:
                return first switch
                {
                    (byte)'i' => Match(name, "if-modified-since"u8, 40),
                    (byte)'t' => Match(name, "transfer-encoding"u8, 57),
                    _ => 0,
                };
            case 18:
                return Match(name, "proxy-authenticate"u8, 48);
            case 19:
                return first switch
                {
                    (byte)'c' => Match(name, "content-disposition"u8, 25),
                    (byte)'i' => Match(name, "if-unmodified-since"u8, 43),
                    (byte)'p' => Match(name, "proxy-authorization"u8, 49),
                    _ => 0,
                };
            case 25:
                return Match(name, "strict-transport-security"u8, 56);
            case 27:
                return Match(name, "access-control-allow-origin"u8, 20);
            default:
                return 0;
        }
    }

    // Candidates of one length differ, so at most one of the ORed matches is not 0.
    private static int Match(ReadOnlySpan<byte> name, ReadOnlySpan<byte> candidate, int index) =>
        name.SequenceEqual(candidate) ? index : 0;

    public static ReadOnlySpan<byte> Name(int index) => index switch
    {
        1 => ":authority"u8,
        2 or 3 => ":method"u8,
        4 or 5 => ":path"u8,
        6 or 7 => ":scheme"u8,
        >= 8 and <= 14 => ":status"u8,
        15 => "accept-charset"u8,
        16 => "accept-encoding"u8,
        17 => "accept-language"u8,
        18 => "accept-ranges"u8,
        19 => "accept"u8,
        20 => "access-control-allow-origin"u8,
        21 => "age"u8,
        22 => "allow"u8,
        23 => "authorization"u8,
        24 => "cache-control"u8,
        25 => "content-disposition"u8,
        26 => "content-encoding"u8,
        27 => "content-language"u8,
        28 => "content-length"u8,
        29 => "content-location"u8,
        30 => "content-range"u8,
        31 => "content-type"u8,
        32 => "cookie"u8,
        33 => "date"u8,
        34 => "etag"u8,
        35 => "expect"u8,
        36 => "expires"u8,
        37 => "from"u8,
        38 => "host"u8,
        39 => "if-match"u8,
        40 => "if-modified-since"u8,
        41 => "if-none-match"u8,
        42 => "if-range"u8,
        43 => "if-unmodified-since"u8,
        44 => "last-modified"u8,
        45 => "link"u8,
        46 => "location"u8,
        47 => "max-forwards"u8,
        48 => "proxy-authenticate"u8,
        49 => "proxy-authorization"u8,
        50 => "range"u8,
        51 => "referer"u8,
        52 => "refresh"u8,
        53 => "retry-after"u8,
        54 => "server"u8,
        55 => "set-cookie"u8,
        56 => "strict-transport-security"u8,
        57 => "transfer-encoding"u8,
        58 => "user-agent"u8,
        59 => "vary"u8,
        60 => "via"u8,
        61 => "www-authenticate"u8,
        _ => throw new ArgumentOutOfRangeException(nameof(index)),
    };

    public static ReadOnlySpan<byte> Value(int index) => index switch
    {
        2 => "GET"u8,
        3 => "POST"u8,
        4 => "/"u8,
        5 => "/index.html"u8,
        6 => "http"u8,
        7 => "https"u8,
        8 => "200"u8,
        9 => "204"u8,
        10 => "206"u8,
        11 => "304"u8,
        12 => "400"u8,
        13 => "404"u8,
        14 => "500"u8,
        16 => "gzip, deflate"u8,
        >= 1 and <= Count => default,
        _ => throw new ArgumentOutOfRangeException(nameof(index)),
    };
}
