using System.Collections.Frozen;
using Microsoft.Extensions.Primitives;

namespace Weft.Proxy.Http;

/// <summary>
/// Headers that belong to one connection and must not cross the proxy (RFC 9110 7.6.1; HTTP2-Settings
/// by RFC 7540 3.2.1, and Kestrel drops it from the Connection header it shows).
/// </summary>
internal static class HopByHopHeaders
{
    private static readonly FrozenSet<string> Names = FrozenSet.ToFrozenSet(
        ["Connection", "Keep-Alive", "Transfer-Encoding", "Upgrade", "TE", "Trailer", "Proxy-Connection",
         "Proxy-Authenticate", "Proxy-Authorization", "Alt-Svc", "HTTP2-Settings"],
        StringComparer.OrdinalIgnoreCase);

    /// <summary>True for a hop-by-hop header other than "TE: trailers", which gRPC needs end to end.</summary>
    public static bool ShouldDrop(string name, StringValues value)
    {
        if (!Names.Contains(name))
            return name.StartsWith("Proxy-", StringComparison.OrdinalIgnoreCase);
        return !(name.Length == 2 && value.Count == 1 && string.Equals(value[0], "trailers", StringComparison.OrdinalIgnoreCase));
    }

    public static bool ShouldDropResponse(string name) =>
        Names.Contains(name) || name.StartsWith("Proxy-", StringComparison.OrdinalIgnoreCase);

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
}
