using System.Diagnostics.CodeAnalysis;
using System.Text;

namespace Weft.Proxy.Codecs.Http2.Hpack;

/// <summary>
/// Writes header fields as RFC 7541 representations that never touch the peer's dynamic table (we never
/// index), so the peer's table size does not matter and the encoder holds no state. No Huffman: CPU matters
/// more here than octets. Every method throws ArgumentException when destination is shorter than the bound
/// it documents.
/// </summary>
internal static class HpackEncoder
{
    /// <summary>The octets <see cref="WriteStatus"/> may write.</summary>
    public const int MaxStatusLength = 5;

    /// <summary>
    /// Upper bound of bytes WriteField writes for these lengths (no Huffman; integer prefixes included): the
    /// literal-name form, never shorter than the indexed-name one.
    /// </summary>
    public static int MaxFieldLength(int nameLength, int valueLength) =>
        1 + StringLength(nameLength) + StringLength(valueLength);

    /// <summary>
    /// :status: fully indexed for 200, 204, 206, 304, 400, 404, 500 (static table), else literal without
    /// indexing, name index 8. status must have three digits. Returns bytes written (at most
    /// <see cref="MaxStatusLength"/>).
    /// </summary>
    public static int WriteStatus(int status, Span<byte> destination)
    {
        int index = status switch
        {
            200 => 8,
            204 => 9,
            206 => 10,
            304 => 11,
            400 => 12,
            404 => 13,
            500 => 14,
            _ => 0,
        };
        if (index != 0)
        {
            EnsureLength(destination, 1);
            destination[0] = (byte)(0x80 | index);
            return 1;
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(status, 100);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(status, 999);
        EnsureLength(destination, MaxStatusLength);
        destination[0] = 0x08;
        destination[1] = 3;
        destination[2] = (byte)('0' + status / 100);
        destination[3] = (byte)('0' + status / 10 % 10);
        destination[4] = (byte)('0' + status % 10);
        return MaxStatusLength;
    }

    /// <summary>
    /// Literal without indexing (RFC 7541 6.2.2), the name as a static-table index when the static table has
    /// that name (its first entry), else a literal name. name must already be lowercase. destination must hold
    /// <see cref="MaxFieldLength"/> octets. Returns bytes written.
    /// </summary>
    public static int WriteField(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value, Span<byte> destination)
    {
        EnsureLength(destination, MaxFieldLength(name.Length, value.Length));
        int nameIndex = HpackStaticTable.NameIndex(name);
        int written;
        if (nameIndex != 0)
        {
            written = HpackInteger.Write(destination, nameIndex, 4, 0x00);
        }
        else
        {
            destination[0] = 0x00;
            written = 1 + WriteString(name, destination[1..]);
        }

        return written + WriteString(value, destination[written..]);
    }

    /// <summary>
    /// The same from strings: the name lowercased (ASCII) while written, name and value written as Latin-1
    /// (chars above 0xFF become '?'). destination must hold <see cref="MaxFieldLength"/> octets.
    /// </summary>
    public static int WriteField(string name, string value, Span<byte> destination)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(value);
        EnsureLength(destination, MaxFieldLength(name.Length, value.Length));

        // The name is written where a literal name would go, so it is looked up without a copy; an indexed
        // name is shorter than that literal, and the value then overwrites the name's octets.
        int nameStart = 1 + HpackInteger.Length(name.Length, 7);
        Span<byte> nameOctets = destination.Slice(nameStart, name.Length);
        WriteLowercaseLatin1(name, nameOctets);
        int nameIndex = HpackStaticTable.NameIndex(nameOctets);
        int written;
        if (nameIndex != 0)
        {
            written = HpackInteger.Write(destination, nameIndex, 4, 0x00);
        }
        else
        {
            destination[0] = 0x00;
            HpackInteger.Write(destination[1..], name.Length, 7, 0x00);
            written = nameStart + name.Length;
        }

        written += HpackInteger.Write(destination[written..], value.Length, 7, 0x00);
        WriteLatin1(value, destination.Slice(written, value.Length));
        return written + value.Length;
    }

    /// <summary>
    /// An indexed field (RFC 7541 6.1) of the static table, e.g. 2 = ":method: GET", 3 = ":method: POST",
    /// 4 = ":path: /", 6 = ":scheme: http", 7 = ":scheme: https". Writes one octet.
    /// </summary>
    public static int WriteIndexed(int index, Span<byte> destination)
    {
        CheckStaticIndex(index);
        EnsureLength(destination, 1);
        return HpackInteger.Write(destination, index, 7, 0x80);
    }

    /// <summary>
    /// A literal without indexing whose name is the static table's entry nameIndex (e.g. 1 = :authority,
    /// 4 = :path, 2 = :method). destination must hold 2 + <see cref="StringLength"/>(value.Length) octets.
    /// </summary>
    public static int WriteLiteralWithNameIndex(int nameIndex, ReadOnlySpan<byte> value, Span<byte> destination)
    {
        CheckStaticIndex(nameIndex);
        EnsureLength(destination, HpackInteger.Length(nameIndex, 4) + StringLength(value.Length));
        int written = HpackInteger.Write(destination, nameIndex, 4, 0x00);
        return written + WriteString(value, destination[written..]);
    }

    /// <inheritdoc cref="WriteLiteralWithNameIndex(int, ReadOnlySpan{byte}, Span{byte})"/>
    /// <remarks>The value is written as Latin-1 (chars above 0xFF become '?').</remarks>
    public static int WriteLiteralWithNameIndex(int nameIndex, string value, Span<byte> destination)
    {
        ArgumentNullException.ThrowIfNull(value);
        CheckStaticIndex(nameIndex);
        EnsureLength(destination, HpackInteger.Length(nameIndex, 4) + StringLength(value.Length));
        int written = HpackInteger.Write(destination, nameIndex, 4, 0x00);
        written += HpackInteger.Write(destination[written..], value.Length, 7, 0x00);
        WriteLatin1(value, destination.Slice(written, value.Length));
        return written + value.Length;
    }

    /// <summary>The octets of a string literal of this length without Huffman: its length prefix and itself.</summary>
    public static int StringLength(int length) => HpackInteger.Length(length, 7) + length;

    private static int WriteString(ReadOnlySpan<byte> octets, Span<byte> destination)
    {
        int written = HpackInteger.Write(destination, octets.Length, 7, 0x00);
        octets.CopyTo(destination[written..]);
        return written + octets.Length;
    }

    // One octet per char, whatever the chars: Encoding.Latin1 would turn a surrogate pair into a single '?',
    // leaving the length already written wrong.
    private static void WriteLatin1(string text, Span<byte> destination)
    {
        if (Ascii.FromUtf16(text, destination, out int written) == System.Buffers.OperationStatus.Done)
        {
            return;
        }

        for (int i = written; i < text.Length; i++)
        {
            char c = text[i];
            destination[i] = c <= 0xFF ? (byte)c : (byte)'?';
        }
    }

    private static void WriteLowercaseLatin1(string text, Span<byte> destination)
    {
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            destination[i] = c switch
            {
                >= 'A' and <= 'Z' => (byte)(c | 0x20),
                <= (char)0xFF => (byte)c,
                _ => (byte)'?',
            };
        }
    }

    private static void CheckStaticIndex(int index)
    {
        // Our encoder indexes nothing, so the peer's dynamic table holds nothing of ours to refer to.
        ArgumentOutOfRangeException.ThrowIfLessThan(index, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(index, HpackStaticTable.Count);
    }

    private static void EnsureLength(Span<byte> destination, int length)
    {
        if (destination.Length < length)
        {
            ThrowTooShort(length);
        }
    }

    [DoesNotReturn]
    private static void ThrowTooShort(int length) =>
        throw new ArgumentException($"The destination holds fewer than the {length} octets this field may take.", "destination");
}
