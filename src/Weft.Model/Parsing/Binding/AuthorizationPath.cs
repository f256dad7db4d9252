using System.Text;

namespace Weft.Model.Parsing.Binding;

/// <summary>
/// A path of an authorization rule: "*", a suffix "*x", an exact "/x" or a prefix "/x*". Requests are
/// matched on the path the proxy's normalization leaves (docs/proxy.md, "Paths"), path parameters left
/// out, so a path that normalization would change could never match: it is refused, with the form to
/// write instead when there is one.
/// </summary>
internal static class AuthorizationPath
{
    private const string UpperHex = "0123456789ABCDEF";

    /// <summary>Null when <paramref name="value"/> is a path some request can match; else the message.</summary>
    public static string? Error(string value)
    {
        if (AuthorizationPolicyBinder.StringMatchError(value) is { } w) return $"invalid path \"{value}\": {w}";
        if (value == "*") return null;
        var suffix = value[0] == '*';
        var prefix = value[^1] == '*';
        var body = suffix ? value[1..] : prefix ? value[..^1] : value;
        if (!suffix && !body.StartsWith('/'))
            return $"invalid path \"{value}\": must be \"*\", a suffix like \"*.php\", or start with \"/\" (exact, or a prefix ending in \"*\")";
        if (Unmatchable(body) is { } why) return $"invalid path \"{value}\": {why}";
        var normal = Normalize(body, suffix, prefix);
        if (normal == body) return null;
        var hint = normal is { Length: > 0 } ? $"; write \"{(suffix ? "*" : "")}{normal}{(prefix ? "*" : "")}\"" : "";
        return body.Contains(';', StringComparison.Ordinal)
            ? $"invalid path \"{value}\": path parameters (\";...\") are not matched, rules match the path without them{hint}"
            : $"not a normalized path: requests are matched after normalization (docs/security.md), so \"{value}\" would never match{hint}";
    }

    // What no request that reaches a rule holds, whatever normalization does.
    private static string? Unmatchable(string body)
    {
        for (var i = 0; i < body.Length; i++)
        {
            switch (body[i])
            {
                case '?' or '#':
                    return $"'{body[i]}' ends a path, and rules match the path alone";
                case '\\':
                    return "a backslash is refused in request paths by default (some servers read it as '/'; docs/proxy.md, \"Paths\")";
                case '%' when i + 2 >= body.Length || HexValue(body[i + 1]) < 0 || HexValue(body[i + 2]) < 0:
                    return "'%' must be followed by two hex digits";
                case '%' when body[i + 1] == '0' && body[i + 2] == '0':
                    return "an encoded NUL (%00) is refused in request paths";
            }
        }
        return null;
    }

    /// <summary>
    /// What the proxy makes of <paramref name="body"/>, path parameters left out: canonical percent-encoding,
    /// dot segments resolved, empty segments merged, a trailing slash kept. A suffix's first segment and a
    /// prefix's last are only parts of a segment, kept as they are. Null when no normalized path ends this way.
    /// </summary>
    private static string? Normalize(string body, bool suffix, bool prefix)
    {
        var segments = (suffix ? body : body[1..]).Split('/');
        var kept = new List<string>(segments.Length);
        for (var i = 0; i < segments.Length; i++)
        {
            var segment = Canonical(WithoutParameters(segments[i]));
            var last = i == segments.Length - 1;
            if ((suffix && i == 0) || (prefix && last))
            {
                kept.Add(segment);
                continue;
            }
            if (segment == "..")
            {
                // "/.." is "/"; but above a suffix's start nothing is known.
                if (suffix && kept.Count == 1) return null;
                if (kept.Count > 0) kept.RemoveAt(kept.Count - 1);
            }
            if (segment is not ("" or "." or "..")) kept.Add(segment);
            else if (last) kept.Add("");
        }
        var path = string.Join('/', kept);
        return suffix ? path : "/" + path;
    }

    private static string WithoutParameters(string segment)
    {
        var semicolon = segment.IndexOf(';', StringComparison.Ordinal);
        return semicolon < 0 ? segment : segment[..semicolon];
    }

    // Unreserved characters decoded, other hex upper-cased, and what a request carries percent-encoded
    // (space, controls, non-ASCII as UTF-8) encoded. Every '%' was checked to lead two hex digits.
    private static string Canonical(string segment)
    {
        if (!segment.Any(c => c is '%' or < '!' or > '~')) return segment;
        var text = new StringBuilder(segment.Length + 8);
        for (var i = 0; i < segment.Length; i++)
        {
            var c = segment[i];
            if (c == '%')
            {
                var b = (byte)((HexValue(segment[i + 1]) << 4) | HexValue(segment[i + 2]));
                i += 2;
                if (IsUnreserved(b)) text.Append((char)b);
                else AppendEncoded(text, b);
            }
            else if (c is < '!' or > '~')
            {
                var end = i;
                while (end < segment.Length && segment[end] is < '!' or > '~') end++;
                foreach (var b in Encoding.UTF8.GetBytes(segment[i..end])) AppendEncoded(text, b);
                i = end - 1;
            }
            else
            {
                text.Append(c);
            }
        }
        return text.ToString();
    }

    private static void AppendEncoded(StringBuilder text, byte b) => text.Append('%').Append(UpperHex[b >> 4]).Append(UpperHex[b & 0xF]);

    private static int HexValue(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'A' and <= 'F' => c - 'A' + 10,
        >= 'a' and <= 'f' => c - 'a' + 10,
        _ => -1,
    };

    // RFC 3986 2.3: encoding these changes nothing, so the proxy decodes them.
    private static bool IsUnreserved(byte b) =>
        b is (>= (byte)'A' and <= (byte)'Z') or (>= (byte)'a' and <= (byte)'z') or (>= (byte)'0' and <= (byte)'9')
            or (byte)'-' or (byte)'.' or (byte)'_' or (byte)'~';
}
