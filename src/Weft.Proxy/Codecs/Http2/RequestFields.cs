namespace Weft.Proxy.Codecs.Http2;

/// <summary>RFC 9113 8.2: what makes a field of an HTTP/2 message malformed.</summary>
internal static class RequestFields
{
    // tchar (RFC 9110 5.6.2), lowercase only: HTTP/2 field names are lowercase.
    private static ReadOnlySpan<bool> NameChars => new bool[128]
    {
        false, false, false, false, false, false, false, false, false, false, false, false, false, false, false, false,
        false, false, false, false, false, false, false, false, false, false, false, false, false, false, false, false,
        // SP ! " # $ % & ' ( ) * + , - . /
        false, true, false, true, true, true, true, true, false, false, true, true, false, true, true, false,
        // 0-9 : ; < = > ?
        true, true, true, true, true, true, true, true, true, true, false, false, false, false, false, false,
        // @ A-Z [ \ ] ^ _
        false, false, false, false, false, false, false, false, false, false, false, false, false, false, false, false,
        false, false, false, false, false, false, false, false, false, false, false, false, false, false, true, true,
        // ` a-z { | } ~ DEL
        true, true, true, true, true, true, true, true, true, true, true, true, true, true, true, true,
        true, true, true, true, true, true, true, true, true, true, true, false, true, false, true, false,
    };

    public static bool ValidName(ReadOnlySpan<byte> name)
    {
        if (name.IsEmpty)
            return false;
        var table = NameChars;
        foreach (var b in name)
        {
            if (b >= 128 || !table[b])
                return false;
        }
        return true;
    }

    /// <summary>No NUL, CR or LF anywhere, no whitespace at either end.</summary>
    public static bool ValidValue(ReadOnlySpan<byte> value)
    {
        if (value.IsEmpty)
            return true;
        if (value[0] is (byte)' ' or (byte)'\t' || value[^1] is (byte)' ' or (byte)'\t')
            return false;
        return value.IndexOfAny((byte)0, (byte)'\r', (byte)'\n') < 0;
    }

    /// <summary>RFC 9113 8.2.2: connection-specific fields, and TE other than "trailers".</summary>
    public static bool IsConnectionSpecific(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value) => name.Length switch
    {
        2 => name.SequenceEqual("te"u8) && !value.SequenceEqual("trailers"u8),
        7 => name.SequenceEqual("upgrade"u8),
        10 => name.SequenceEqual("connection"u8) || name.SequenceEqual("keep-alive"u8),
        16 => name.SequenceEqual("proxy-connection"u8),
        17 => name.SequenceEqual("transfer-encoding"u8),
        _ => false,
    };

    public static bool TryParseLength(ReadOnlySpan<byte> value, out long length)
    {
        length = 0;
        if (value.IsEmpty || value.Length > 18)
            return false;
        foreach (var b in value)
        {
            if (b is < (byte)'0' or > (byte)'9')
                return false;
            length = length * 10 + (b - '0');
        }
        return true;
    }
}
