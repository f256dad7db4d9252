using System.Buffers;

namespace Weft.Proxy.Pipeline;

/// <summary>What <see cref="PathNormalizer.Normalize"/> made of a path.</summary>
internal enum PathVerdict
{
    /// <summary>The path is already normal: use it as sent (the output buffer's contents are unspecified).</summary>
    Unchanged,
    /// <summary>The output buffer holds the normal path.</summary>
    Normalized,
    /// <summary>The path is ambiguous or malformed; answer 400 with the reason.</summary>
    Rejected,
}

/// <summary>
/// The one normalization of a request path: routes match on its result and the upstream receives the
/// same bytes, so the proxy and the app never disagree about which resource was asked for
/// (<c>/public/..;/secret</c>, <c>/public/..%2Fsecret</c>, <c>/public/..\secret</c> are read as
/// <c>/secret</c> by some servers). Percent-encoding is checked and made canonical (unreserved
/// characters decoded, other hex upper-cased), then dot segments are removed (RFC 3986 5.2.4) and
/// empty segments merged. Encoded slashes, backslashes and dot segments with parameters are refused
/// unless the mesh is configured to keep them, in which case they are plain segment bytes.
/// </summary>
internal static class PathNormalizer
{
    public const string InvalidByte = "invalid byte in path";
    public const string NotAbsolute = "path does not start with /";
    public const string BadPercent = "bad percent-encoding";
    public const string EncodedNul = "encoded NUL";
    public const string EncodedSlash = "encoded slash in path";
    public const string EncodedBackslash = "encoded backslash in path";
    public const string Backslash = "backslash in path";
    public const string DotSegmentWithParameters = "dot segment with parameters";

    // Bytes that never need a second look: visible ASCII except '%' and '\'. A path made of these,
    // with no "//" and no dot segment, is already normal.
    private static readonly SearchValues<byte> PlainChars = SearchValues.Create(
        "!\"#$&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`abcdefghijklmnopqrstuvwxyz{|}~"u8);

    private static ReadOnlySpan<byte> UpperHex => "0123456789ABCDEF"u8;

    /// <summary>
    /// Normalizes <paramref name="path"/>, the path of an origin-form target (up to, not including, '?').
    /// <paramref name="output"/> must hold at least <paramref name="path"/>.Length bytes (the result
    /// is never longer). On <see cref="PathVerdict.Unchanged"/> <paramref name="written"/> is
    /// path.Length and output may or may not have been written: use <paramref name="path"/>. On
    /// <see cref="PathVerdict.Rejected"/> written is 0 and <paramref name="reason"/> a fixed string
    /// for the 400 body. <paramref name="keepAmbiguous"/> is MeshConfig's KEEP action.
    /// </summary>
    public static PathVerdict Normalize(ReadOnlySpan<byte> path, bool keepAmbiguous, Span<byte> output, out int written, out string? reason)
    {
        if (output.Length < path.Length)
            ThrowOutputTooSmall();
        reason = null;
        if (path.IsEmpty || path[0] != '/')
        {
            written = 0;
            reason = NotAbsolute;
            return PathVerdict.Rejected;
        }
        if (IsNormal(path))
        {
            written = path.Length;
            return PathVerdict.Unchanged;
        }
        return Rewrite(path, keepAmbiguous, output, out written, out reason);
    }

    // The common case (/api/v1/items): three vectorized scans, no copy.
    private static bool IsNormal(ReadOnlySpan<byte> path)
    {
        if (path.IndexOfAnyExcept(PlainChars) >= 0 || path.IndexOf("//"u8) >= 0)
            return false;
        var i = 0;
        while (true)
        {
            var dot = path[i..].IndexOf("/."u8);
            if (dot < 0)
                return true;
            var after = i + dot + 2;
            if (after == path.Length || path[after] is (byte)'/' or (byte)';')
                return false;
            if (path[after] == '.' && (after + 1 == path.Length || path[after + 1] is (byte)'/' or (byte)';'))
                return false;
            i = after;
        }
    }

    // Each kept segment sits in output as "/name"; a raw '/' never appears inside a name (only
    // unreserved bytes are decoded), so ".." pops back to the previous '/'.
    private static PathVerdict Rewrite(ReadOnlySpan<byte> path, bool keep, Span<byte> output, out int written, out string? reason)
    {
        reason = null;
        written = 0;
        var w = 0;
        var i = 0;
        var trailingSlash = false;
        while (i < path.Length)
        {
            if (path[i] == '/')
            {
                i++;
                trailingSlash = true;                  // holds only if no segment follows
                continue;
            }
            var slash = w;
            output[w++] = (byte)'/';
            for (; i < path.Length && path[i] != '/'; i++)
            {
                var b = path[i];
                if (b == '%')
                {
                    if (i + 2 >= path.Length)
                        return Reject(BadPercent, out reason);
                    var hi = HexValue(path[i + 1]);
                    var lo = HexValue(path[i + 2]);
                    if ((hi | lo) < 0)
                        return Reject(BadPercent, out reason);
                    var value = (byte)((hi << 4) | lo);
                    i += 2;
                    if (value == 0)
                        return Reject(EncodedNul, out reason);
                    if (IsUnreserved(value))
                    {
                        output[w++] = value;
                        continue;
                    }
                    if (!keep && value == '/')
                        return Reject(EncodedSlash, out reason);
                    if (!keep && value == '\\')
                        return Reject(EncodedBackslash, out reason);
                    output[w++] = (byte)'%';
                    output[w++] = UpperHex[hi];
                    output[w++] = UpperHex[lo];
                }
                else if (b == '\\')
                {
                    if (!keep)
                        return Reject(Backslash, out reason);
                    output[w++] = b;
                }
                else if (b is < 0x21 or > 0x7E)
                {
                    return Reject(InvalidByte, out reason);
                }
                else
                {
                    output[w++] = b;
                }
            }

            var name = output[(slash + 1)..w];
            trailingSlash = false;
            if (name is [(byte)'.'])
            {
                w = slash;
                trailingSlash = true;
            }
            else if (name is [(byte)'.', (byte)'.'])
            {
                w = slash > 0 ? output[..slash].LastIndexOf((byte)'/') : 0;
                trailingSlash = true;
            }
            else if (!keep && (name is [(byte)'.', (byte)';', ..] or [(byte)'.', (byte)'.', (byte)';', ..]))
            {
                // Tomcat and Spring drop ";params" before resolving dot segments.
                return Reject(DotSegmentWithParameters, out reason);
            }
        }

        // A path that ends in '/' or in a dot segment names a directory: keep its trailing slash.
        // Room is certain: that '/' or the dot segment was consumed without being written.
        if (w == 0 || trailingSlash)
            output[w++] = (byte)'/';

        written = w;
        if (w == path.Length && output[..w].SequenceEqual(path))
            return PathVerdict.Unchanged;
        return PathVerdict.Normalized;
    }

    private static PathVerdict Reject(string why, out string? reason)
    {
        reason = why;
        return PathVerdict.Rejected;
    }

    private static int HexValue(byte b) => b switch
    {
        >= (byte)'0' and <= (byte)'9' => b - '0',
        >= (byte)'A' and <= (byte)'F' => b - 'A' + 10,
        >= (byte)'a' and <= (byte)'f' => b - 'a' + 10,
        _ => -1,
    };

    // RFC 3986 2.3: encoding these changes nothing, so they are always decoded.
    private static bool IsUnreserved(byte b) =>
        b is (>= (byte)'A' and <= (byte)'Z') or (>= (byte)'a' and <= (byte)'z') or (>= (byte)'0' and <= (byte)'9')
            or (byte)'-' or (byte)'.' or (byte)'_' or (byte)'~';

    private static void ThrowOutputTooSmall() =>
        throw new ArgumentException("output must hold at least path.Length bytes", "output");
}
