using System.Collections.Frozen;
using System.Text;
using Microsoft.Extensions.Primitives;

namespace Weft.Proxy.Pipeline;

/// <summary>
/// Headers that belong to one connection and never cross the proxy (RFC 9110 7.6.1; HTTP2-Settings by
/// RFC 7540 3.2.1; every Proxy-* header; Alt-Svc, which names this hop's alternatives). The one list:
/// the HTTP/1.1 parser classifies field names by it as bytes, every other codec filters by it as strings.
/// </summary>
internal static class HopByHop
{
    private static readonly string[] Names =
    [
        "Connection", "Keep-Alive", "Transfer-Encoding", "Upgrade", "TE", "Trailer", "Proxy-Connection",
        "Proxy-Authenticate", "Proxy-Authorization", "Alt-Svc", "HTTP2-Settings",
    ];

    private static readonly FrozenSet<string> NameSet = Names.ToFrozenSet(StringComparer.OrdinalIgnoreCase);

    // The names as bytes, bucketed by length: the parser compares a field name only with names of its length.
    private static readonly byte[][][] ByLength = MakeByLength();

    /// <summary>True for a hop-by-hop header name (any case).</summary>
    public static bool Is(string name) => NameSet.Contains(name) || name.StartsWith("Proxy-", StringComparison.OrdinalIgnoreCase);

    /// <summary>True for a hop-by-hop header name given as bytes (the HTTP/1.1 parser's view).</summary>
    public static bool Is(ReadOnlySpan<byte> name)
    {
        if ((uint)name.Length < (uint)ByLength.Length)
        {
            foreach (var candidate in ByLength[name.Length])
            {
                if (Ascii.EqualsIgnoreCase(name, candidate))
                    return true;
            }
        }
        return name.Length >= 6 && Ascii.EqualsIgnoreCase(name[..6], "proxy-"u8);
    }

    /// <summary>
    /// Whether a request header stays behind. "TE: trailers" is the one hop-by-hop field an HTTP/2
    /// upstream is told (gRPC needs it end to end); HTTP/1.1 upstreams never get TE, as the proxy does
    /// not relay HTTP/1.1 trailers.
    /// </summary>
    public static bool DropFromRequest(string name, StringValues value, bool toHttp2) =>
        Is(name) && !(toHttp2 && name.Length == 2 && value.Count == 1 && string.Equals(value[0], "trailers", StringComparison.OrdinalIgnoreCase));

    /// <summary>The header names a Connection header lists, which are hop-by-hop too (cold: rare in practice).</summary>
    public static HashSet<string>? ConnectionTokens(StringValues connection)
    {
        HashSet<string>? tokens = null;
        foreach (var value in connection)
        {
            if (value is null)
                continue;
            foreach (var range in value.AsSpan().Split(','))
            {
                var token = value.AsSpan()[range].Trim();
                if (token.IsEmpty || token.Equals("close", StringComparison.OrdinalIgnoreCase)
                    || token.Equals("keep-alive", StringComparison.OrdinalIgnoreCase))
                    continue;
                (tokens ??= new HashSet<string>(StringComparer.OrdinalIgnoreCase)).Add(token.ToString());
            }
        }
        return tokens;
    }

    private static byte[][][] MakeByLength()
    {
        var longest = Names.Max(n => n.Length);
        var buckets = new byte[longest + 1][][];
        for (var length = 0; length <= longest; length++)
            buckets[length] = Names.Where(n => n.Length == length).Select(Encoding.ASCII.GetBytes).ToArray();
        return buckets;
    }
}
