using System.Globalization;
using System.Text;

namespace Weft.Protocol.Grpc;

/// <summary>Header names and value codecs of grpc/doc/PROTOCOL-HTTP2.md, shared by client and server.</summary>
internal static class GrpcHeaders
{
    public const string ContentType = "application/grpc";
    public const string Status = "grpc-status";
    public const string Message = "grpc-message";
    public const string Timeout = "grpc-timeout";
    public const string Encoding = "grpc-encoding";
    public const string AcceptEncoding = "grpc-accept-encoding";

    /// <summary>application/grpc, application/grpc+proto, application/grpc;charset=... all qualify.</summary>
    public static bool IsGrpcContentType(string? value) =>
        value is not null
        && value.StartsWith(ContentType, StringComparison.OrdinalIgnoreCase)
        && (value.Length == ContentType.Length || value[ContentType.Length] is '+' or ';');

    /// <summary>Parses "TimeoutValue TimeoutUnit": at most 8 ASCII digits then one of H M S m u n.</summary>
    public static bool TryParseTimeout(string? value, out TimeSpan timeout)
    {
        timeout = default;
        if (value is null || value.Length < 2 || value.Length > 9)
        {
            return false;
        }
        if (!long.TryParse(value.AsSpan(0, value.Length - 1), NumberStyles.None, CultureInfo.InvariantCulture, out long amount))
        {
            return false;
        }
        long ticks;
        switch (value[^1])
        {
            case 'H': ticks = amount * TimeSpan.TicksPerHour; break;
            case 'M': ticks = amount * TimeSpan.TicksPerMinute; break;
            case 'S': ticks = amount * TimeSpan.TicksPerSecond; break;
            case 'm': ticks = amount * TimeSpan.TicksPerMillisecond; break;
            case 'u': ticks = amount * TimeSpan.TicksPerMicrosecond; break;
            case 'n': ticks = amount / 100; break;
            default: return false;
        }
        timeout = TimeSpan.FromTicks(ticks);
        return true;
    }

    /// <summary>The shortest grpc-timeout that keeps millisecond precision within the 8 digit limit.</summary>
    public static string FormatTimeout(TimeSpan timeout)
    {
        long ms = Math.Max(1, (long)Math.Ceiling(timeout.TotalMilliseconds));
        if (ms < 100_000_000)
        {
            return ms.ToString(CultureInfo.InvariantCulture) + "m";
        }
        long seconds = ms / 1000;
        if (seconds < 100_000_000)
        {
            return seconds.ToString(CultureInfo.InvariantCulture) + "S";
        }
        return Math.Min(seconds / 3600, 99_999_999).ToString(CultureInfo.InvariantCulture) + "H";
    }

    /// <summary>Percent-encodes UTF-8 bytes outside 0x20-0x7E and '%' itself (the grpc-message rule).</summary>
    public static string EncodeMessage(string message)
    {
        bool plain = true;
        foreach (char c in message)
        {
            if (c < 0x20 || c > 0x7E || c == '%')
            {
                plain = false;
                break;
            }
        }
        if (plain)
        {
            return message;
        }
        return EncodeSlow(message);
    }

    private static string EncodeSlow(string message)
    {
        byte[] bytes = System.Text.Encoding.UTF8.GetBytes(message);
        var sb = new StringBuilder(bytes.Length * 2);
        foreach (byte b in bytes)
        {
            if (b < 0x20 || b > 0x7E || b == '%')
            {
                sb.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
            }
            else
            {
                sb.Append((char)b);
            }
        }
        return sb.ToString();
    }

    /// <summary>Reverses <see cref="EncodeMessage"/>; malformed escapes are kept as they are, as the spec asks.</summary>
    public static string DecodeMessage(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return "";
        }
        if (!value.Contains('%', StringComparison.Ordinal))
        {
            return value;
        }
        var bytes = new List<byte>(value.Length);
        for (int i = 0; i < value.Length; i++)
        {
            char c = value[i];
            if (c == '%' && i + 2 < value.Length
                && byte.TryParse(value.AsSpan(i + 1, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out byte b))
            {
                bytes.Add(b);
                i += 2;
            }
            else
            {
                // Latin-1 chars only come from a peer that broke the encoding rule; keep them visible.
                foreach (byte x in System.Text.Encoding.UTF8.GetBytes(c.ToString()))
                {
                    bytes.Add(x);
                }
            }
        }
        return System.Text.Encoding.UTF8.GetString(bytes.ToArray());
    }

    /// <summary>grpc/doc/http-grpc-status-mapping.md: what a non-200 HTTP status means to a gRPC client.</summary>
    public static StatusCode FromHttpStatus(int httpStatus) => httpStatus switch
    {
        400 => StatusCode.Internal,
        401 => StatusCode.Unauthenticated,
        403 => StatusCode.PermissionDenied,
        404 => StatusCode.Unimplemented,
        429 or 502 or 503 or 504 => StatusCode.Unavailable,
        _ => StatusCode.Unknown,
    };
}
