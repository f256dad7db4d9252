using System.Buffers;
using System.Diagnostics.CodeAnalysis;

namespace Weft.Proxy.Codecs.Http2.Hpack;

/// <summary>
/// Decodes header blocks (RFC 7541) for one direction of one connection. It holds the connection's dynamic
/// table, so blocks must be decoded in the order they were sent, and it is not thread-safe.
/// </summary>
internal sealed class HpackDecoder
{
    /// <summary>The largest table this decoder accepts to be built for (its buffer may take twice as much).</summary>
    public const int MaxTableBytesLimit = 1 << 24;

    /// <summary>RFC 9113 6.5.2: what a field adds to the header list's size beyond its name and value.</summary>
    public const int FieldOverhead = 32;

    private const int FirstScratchLength = 256;

    private readonly int _maxTableBytes;
    private readonly HpackDynamicTable _table;

    /// <param name="maxTableBytes">Our advertised SETTINGS_HEADER_TABLE_SIZE (default 4096); a dynamic table size update above it is Compression.</param>
    public HpackDecoder(int maxTableBytes = 4096)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxTableBytes);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxTableBytes, MaxTableBytesLimit);
        _maxTableBytes = maxTableBytes;
        _table = new HpackDynamicTable(maxTableBytes);
    }

    /// <summary>Entries in the dynamic table.</summary>
    public int DynamicTableCount => _table.Count;

    /// <summary>The dynamic table's size as RFC 7541 4.1 counts it.</summary>
    public int DynamicTableSize => _table.Size;

    /// <summary>The dynamic table's current maximum size: maxTableBytes until the peer sends a size update.</summary>
    public int DynamicTableMaxSize => _table.MaxSize;

    /// <summary>
    /// Decodes one COMPLETE header block (HEADERS + CONTINUATION fragments concatenated). Each field reaches the
    /// sink in order. hardLimit: when the decoded size (name + value + 32 per field, RFC 9113's measure) passes
    /// it, stop and return ListTooLarge (this bounds the CPU an HPACK bomb can cost).
    /// </summary>
    public HpackError Decode(ReadOnlySpan<byte> block, IHeaderFieldSink sink, int hardLimit)
    {
        ArgumentNullException.ThrowIfNull(sink);

        // Huffman output goes to a pooled scratch buffer rented only for a block that needs it, so an idle
        // connection holds no buffer.
        byte[]? scratch = null;
        try
        {
            return DecodeFields(block, sink, hardLimit, ref scratch);
        }
        finally
        {
            if (scratch is not null)
            {
                ArrayPool<byte>.Shared.Return(scratch);
            }
        }
    }

    /// <summary>
    /// Decodes the fields of a block that arrives in fragments, as far as they are complete: a field cut
    /// by the fragment's end is left (<paramref name="consumed"/> stops before it) for the next call with
    /// more bytes; only the <paramref name="final"/> call reports it malformed. <paramref name="blockStart"/>
    /// on the first call of a block (a table size update is allowed only before its first field);
    /// <paramref name="decoded"/> is this call's decoded size (RFC 9113's measure), checked against
    /// <paramref name="hardLimit"/>. A field is handed to the sink (and entered in the table) only once
    /// it is whole, so a field cut short and decoded again later counts once.
    /// </summary>
    public HpackError Decode(ReadOnlySpan<byte> block, IHeaderFieldSink sink, int hardLimit, bool blockStart, bool final,
        out int consumed, out int decoded)
    {
        if (blockStart)
            _fieldSeen = false;
        byte[]? scratch = null;
        try
        {
            var result = DecodeFields(block, sink, hardLimit, ref scratch, final, out consumed, out var size);
            decoded = (int)Math.Min(size, int.MaxValue);
            return result;
        }
        finally
        {
            if (scratch is not null)
                ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    // A field of the block being decoded was seen (a table size update may no longer come).
    private bool _fieldSeen;

    private HpackError DecodeFields(ReadOnlySpan<byte> block, IHeaderFieldSink sink, int hardLimit, ref byte[]? scratch)
    {
        _fieldSeen = false;
        return DecodeFields(block, sink, hardLimit, ref scratch, final: true, out _, out _);
    }

    private HpackError DecodeFields(ReadOnlySpan<byte> block, IHeaderFieldSink sink, int hardLimit, ref byte[]? scratch, bool final,
        out int consumed, out long listSize)
    {
        int position = 0;
        listSize = 0;
        consumed = 0;
        while (position < block.Length)
        {
            var start = position;
            var result = DecodeOne(block, ref position, sink, hardLimit, ref scratch, ref listSize);
            if (result == HpackError.None)
            {
                consumed = position;
                continue;
            }
            // A field cut by the fragment's end (or malformed: the final fragment tells) waits for more.
            if (result == HpackError.Compression && !final)
            {
                consumed = start;
                return HpackError.None;
            }
            return result;
        }
        consumed = position;
        return HpackError.None;
    }

    private HpackError DecodeOne(ReadOnlySpan<byte> block, ref int position, IHeaderFieldSink sink, int hardLimit, ref byte[]? scratch,
        ref long listSize)
    {
        bool fieldSeen = _fieldSeen;
        {
            byte first = block[position];
            if ((first & 0x80) != 0)
            {
                // Indexed field (RFC 7541 6.1).
                if (!HpackInteger.TryRead(block, ref position, 7, out int index)
                    || !TryGetField(index, out ReadOnlySpan<byte> name, out ReadOnlySpan<byte> value))
                {
                    return HpackError.Compression;
                }

                _fieldSeen = true;
                listSize += (long)name.Length + value.Length + FieldOverhead;
                if (listSize > hardLimit)
                {
                    return HpackError.ListTooLarge;
                }

                sink.OnField(name, value);
            }
            else if ((first & 0xE0) == 0x20)
            {
                // Dynamic table size update (6.3): RFC 7541 4.2 puts it at the start of a block only.
                if (fieldSeen
                    || !HpackInteger.TryRead(block, ref position, 5, out int maxSize)
                    || maxSize > _maxTableBytes)
                {
                    return HpackError.Compression;
                }

                _table.SetMaxSize(maxSize);
            }
            else
            {
                // Literal with incremental indexing (6.2.1, 01 and a 6-bit index), without indexing (6.2.2, 0000)
                // or never indexed (6.2.3, 0001); the last two read alike and add nothing to the table.
                bool indexing = (first & 0x40) != 0;
                HpackError error = DecodeLiteral(block, ref position, indexing, sink, ref listSize, hardLimit, ref scratch);
                if (error != HpackError.None)
                {
                    return error;
                }

                _fieldSeen = true;
            }
        }

        return HpackError.None;
    }

    private HpackError DecodeLiteral(
        ReadOnlySpan<byte> block, ref int position, bool indexing, IHeaderFieldSink sink, ref long listSize, int hardLimit,
        ref byte[]? scratch)
    {
        if (!HpackInteger.TryRead(block, ref position, indexing ? 6 : 4, out int nameIndex))
        {
            return HpackError.Compression;
        }

        ReadOnlySpan<byte> name;
        int nameInScratch = -1;     // the name's length when it lies at the start of scratch
        if (nameIndex == 0)
        {
            if (!TryReadString(block, ref position, ref scratch, 0, out name, out bool decoded))
            {
                return HpackError.Compression;
            }

            if (decoded)
            {
                nameInScratch = name.Length;
            }
        }
        else
        {
            if (!TryGetField(nameIndex, out name, out _))
            {
                return HpackError.Compression;
            }

            if (indexing && nameIndex > HpackStaticTable.Count)
            {
                // RFC 7541 4.4: inserting may evict the entry this name lies in, and making room may then move
                // live entries over its octets; copy it out first.
                EnsureScratch(ref scratch, name.Length, 0);
                name.CopyTo(scratch);
                nameInScratch = name.Length;
            }
        }

        if (!TryReadString(block, ref position, ref scratch, Math.Max(0, nameInScratch), out ReadOnlySpan<byte> value, out _))
        {
            return HpackError.Compression;
        }

        if (nameInScratch >= 0)
        {
            // The value's decoding may have moved scratch to a larger buffer.
            name = scratch.AsSpan(0, nameInScratch);
        }

        listSize += (long)name.Length + value.Length + FieldOverhead;
        if (listSize > hardLimit)
        {
            return HpackError.ListTooLarge;
        }

        sink.OnField(name, value);
        if (indexing)
        {
            _table.Insert(name, value);
        }

        return HpackError.None;
    }

    // A string literal (RFC 7541 5.2): raw octets are a slice of the block; Huffman ones are decoded into
    // scratch at offset, keeping what lies before it.
    private static bool TryReadString(
        ReadOnlySpan<byte> block, scoped ref int position, scoped ref byte[]? scratch, int offset, out ReadOnlySpan<byte> result,
        out bool decoded)
    {
        result = default;
        decoded = false;
        if (position >= block.Length)
        {
            return false;
        }

        bool huffman = (block[position] & 0x80) != 0;
        if (!HpackInteger.TryRead(block, ref position, 7, out int length) || length > block.Length - position)
        {
            return false;
        }

        ReadOnlySpan<byte> octets = block.Slice(position, length);
        position += length;
        if (!huffman)
        {
            result = octets;
            return true;
        }

        EnsureScratch(ref scratch, offset + HpackHuffman.MaxDecodedLength(length), offset);
        int written = HpackHuffman.Decode(octets, scratch.AsSpan(offset));
        if (written < 0)
        {
            return false;
        }

        result = scratch.AsSpan(offset, written);
        decoded = true;
        return true;
    }

    private static void EnsureScratch([NotNull] ref byte[]? scratch, int length, int keep)
    {
        if (scratch is null)
        {
            scratch = ArrayPool<byte>.Shared.Rent(Math.Max(FirstScratchLength, length));
        }
        else if (scratch.Length < length)
        {
            byte[] larger = ArrayPool<byte>.Shared.Rent(Math.Max(length, scratch.Length * 2));
            scratch.AsSpan(0, keep).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(scratch);
            scratch = larger;
        }
    }

    private bool TryGetField(int index, out ReadOnlySpan<byte> name, out ReadOnlySpan<byte> value)
    {
        if (index > HpackStaticTable.Count)
        {
            return _table.TryGet(index - HpackStaticTable.Count, out name, out value);
        }

        if (index == 0)
        {
            name = default;
            value = default;
            return false;
        }

        name = HpackStaticTable.Name(index);
        value = HpackStaticTable.Value(index);
        return true;
    }
}
