namespace Weft.Proxy.Codecs.Http2.Hpack;

/// <summary>RFC 7541 5.1 integers: an N-bit prefix, then 7 bits per octet, least significant group first.</summary>
internal static class HpackInteger
{
    /// <summary>
    /// Reads the integer whose prefix is the low <paramref name="prefixBits"/> of source[position]
    /// (position must be inside source). False when truncated, past int's range, or longer than five
    /// continuation octets: 35 bits already pass int, so more can only be padding meant to burn CPU.
    /// </summary>
    public static bool TryRead(ReadOnlySpan<byte> source, ref int position, int prefixBits, out int value)
    {
        int mask = (1 << prefixBits) - 1;
        int prefix = source[position++] & mask;
        if (prefix < mask)
        {
            value = prefix;
            return true;
        }

        long result = prefix;
        for (int shift = 0; shift <= 28; shift += 7)
        {
            if (position >= source.Length)
            {
                break;
            }

            byte octet = source[position++];
            result += (long)(octet & 0x7F) << shift;
            if (result > int.MaxValue)
            {
                break;
            }

            if ((octet & 0x80) == 0)
            {
                value = (int)result;
                return true;
            }
        }

        value = 0;
        return false;
    }

    /// <summary>The octets <see cref="Write"/> takes for this value.</summary>
    public static int Length(int value, int prefixBits)
    {
        int mask = (1 << prefixBits) - 1;
        if (value < mask)
        {
            return 1;
        }

        int length = 2;
        for (value -= mask; value >= 0x80; value >>= 7)
        {
            length++;
        }

        return length;
    }

    /// <summary>Writes value (not negative) with <paramref name="flags"/> in the bits above the prefix. Returns the octets written.</summary>
    public static int Write(Span<byte> destination, int value, int prefixBits, byte flags)
    {
        int mask = (1 << prefixBits) - 1;
        if (value < mask)
        {
            destination[0] = (byte)(flags | value);
            return 1;
        }

        destination[0] = (byte)(flags | mask);
        int written = 1;
        for (value -= mask; value >= 0x80; value >>= 7)
        {
            destination[written++] = (byte)(value | 0x80);
        }

        destination[written++] = (byte)value;
        return written;
    }
}
