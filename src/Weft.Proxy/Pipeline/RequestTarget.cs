using System.Buffers;
using System.Text;

namespace Weft.Proxy.Pipeline;

/// <summary>
/// A request target as received, split (RFC 9112 3.2: origin-form "/p?q", absolute-form
/// "http://host/p?q", asterisk-form "*") and its path normalized once (<see cref="PathNormalizer"/>):
/// the path every step routes on is the path the app receives.
/// </summary>
internal static class RequestTarget
{
    /// <summary>
    /// Path and query of <paramref name="target"/>, and the authority an absolute-form target names
    /// (empty otherwise). False for a target of none of the three forms.
    /// </summary>
    public static bool TrySplit(ReadOnlySpan<byte> target, out Range path, out Range query, out Range authority)
    {
        authority = default;
        var start = 0;
        if (target.Length == 1 && target[0] == '*')
        {
            path = 0..1;
            query = 1..1;
            return true;
        }
        // A fragment never belongs in a request (RFC 9112 3.2), and servers read one differently: Node's
        // url.parse and Python's urlsplit take "/admin#x" for "/admin". Refused, as Envoy does.
        if (target.IsEmpty || target.IndexOf((byte)'#') >= 0)
        {
            path = query = default;
            return false;
        }
        if (target[0] != '/')
        {
            // absolute-form: scheme "://" authority [path-abempty] [ "?" query ]
            var scheme = target.IndexOf("://"u8);
            if (scheme <= 0 || !IsScheme(target[..scheme]))
            {
                path = query = default;
                return false;
            }
            var authorityStart = scheme + 3;
            var rest = target[authorityStart..];
            var end = rest.IndexOfAny("/?"u8);
            if (end < 0)
                end = rest.Length;
            if (end == 0)
            {
                path = query = default;
                return false;
            }
            authority = authorityStart..(authorityStart + end);
            start = authorityStart + end;
        }
        var q = target[start..].IndexOf((byte)'?');
        var pathEnd = q < 0 ? target.Length : start + q;
        path = start..pathEnd;
        query = pathEnd..target.Length;
        return true;
    }

    private static bool IsScheme(ReadOnlySpan<byte> scheme) =>
        Ascii.EqualsIgnoreCase(scheme, "http"u8) || Ascii.EqualsIgnoreCase(scheme, "https"u8);

    /// <summary>
    /// The path as routed and forwarded: normalized, "/" for an absolute-form target without a path,
    /// "*" kept as it is. Null when the path is refused (<paramref name="reason"/> says why).
    /// </summary>
    public static string? Normalize(ReadOnlySpan<byte> path, bool keepAmbiguous, out string? reason)
    {
        reason = null;
        if (path.IsEmpty)
            return "/";
        if (path.Length == 1 && path[0] == '*')
            return "*";
        byte[]? rented = null;
        var output = path.Length <= 512 ? stackalloc byte[512] : (rented = ArrayPool<byte>.Shared.Rent(path.Length));
        try
        {
            return PathNormalizer.Normalize(path, keepAmbiguous, output, out var written, out reason) switch
            {
                PathVerdict.Unchanged => Encoding.Latin1.GetString(path),
                PathVerdict.Normalized => Encoding.Latin1.GetString(output[..written]),
                _ => null,
            };
        }
        finally
        {
            if (rented is not null)
                ArrayPool<byte>.Shared.Return(rented);
        }
    }
}
