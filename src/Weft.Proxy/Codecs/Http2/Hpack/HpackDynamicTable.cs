namespace Weft.Proxy.Codecs.Http2.Hpack;

/// <summary>
/// The decoder's dynamic table (RFC 7541 2.3.2, 4): a FIFO of fields, index 1 the newest, bounded by a size
/// that counts each entry's name and value plus 32. The octets of the entries lie back to back in insertion
/// order in one buffer, so every entry is one contiguous span: eviction only moves the start, and when an
/// insertion meets the end the live octets move to the front. With a buffer twice the largest table size that
/// move happens at most once per table size of insertions, so each inserted octet is copied at most twice.
/// Both arrays grow on demand: an idle connection whose peer never indexes holds none.
/// </summary>
internal sealed class HpackDynamicTable
{
    /// <summary>RFC 7541 4.1: what an entry costs beyond its name and value.</summary>
    public const int EntryOverhead = 32;

    private const int FirstBufferLength = 256;
    private const int FirstEntryCount = 8;

    private readonly int _bufferLimit;
    private readonly int _entryLimit;
    private byte[] _octets = [];
    private int _start;     // the oldest entry's first octet
    private int _end;       // one past the newest entry's last octet
    private Entry[] _entries = [];
    private int _oldest;    // the oldest entry's slot in the ring _entries
    private int _count;
    private int _size;
    private int _maxSize;

    /// <param name="maxSizeLimit">The largest size the table may ever be given: our SETTINGS_HEADER_TABLE_SIZE.</param>
    public HpackDynamicTable(int maxSizeLimit)
    {
        _maxSize = maxSizeLimit;
        _bufferLimit = 2 * maxSizeLimit;
        _entryLimit = Math.Max(1, maxSizeLimit / EntryOverhead);
    }

    public int Count => _count;

    /// <summary>The table's size as RFC 7541 4.1 counts it.</summary>
    public int Size => _size;

    public int MaxSize => _maxSize;

    /// <summary>The entry at index (1 = the newest), or false past the table.</summary>
    public bool TryGet(int index, out ReadOnlySpan<byte> name, out ReadOnlySpan<byte> value)
    {
        if ((uint)(index - 1) >= (uint)_count)
        {
            name = default;
            value = default;
            return false;
        }

        int slot = _oldest + _count - index;
        if (slot >= _entries.Length)
        {
            slot -= _entries.Length;
        }

        Entry entry = _entries[slot];
        name = new ReadOnlySpan<byte>(_octets, entry.Offset, entry.NameLength);
        value = new ReadOnlySpan<byte>(_octets, entry.Offset + entry.NameLength, entry.ValueLength);
        return true;
    }

    /// <summary>A dynamic table size update (RFC 7541 4.3); the caller has checked it against the limit.</summary>
    public void SetMaxSize(int maxSize)
    {
        _maxSize = maxSize;
        EvictUntil(maxSize);
    }

    /// <summary>
    /// Adds a field as the newest entry, evicting the oldest ones to make room (RFC 7541 4.4). Neither span may
    /// point into this table: eviction and moving the octets would change them under the copy.
    /// </summary>
    public void Insert(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
    {
        long entrySize = (long)name.Length + value.Length + EntryOverhead;
        if (entrySize > _maxSize)
        {
            // Not an error: the table just ends up empty.
            EvictUntil(0);
            return;
        }

        EvictUntil(_maxSize - (int)entrySize);
        int length = name.Length + value.Length;
        if (_octets.Length - _end < length)
        {
            MakeRoom(length);
        }

        if (_count == _entries.Length)
        {
            GrowEntries();
        }

        int slot = _oldest + _count;
        if (slot >= _entries.Length)
        {
            slot -= _entries.Length;
        }

        _entries[slot] = new Entry { Offset = _end, NameLength = name.Length, ValueLength = value.Length };
        name.CopyTo(_octets.AsSpan(_end));
        value.CopyTo(_octets.AsSpan(_end + name.Length));
        _end += length;
        _count++;
        _size += (int)entrySize;
    }

    private void EvictUntil(int size)
    {
        while (_size > size)
        {
            Entry oldest = _entries[_oldest];
            _size -= oldest.NameLength + oldest.ValueLength + EntryOverhead;
            _start = oldest.Offset + oldest.NameLength + oldest.ValueLength;
            if (++_oldest == _entries.Length)
            {
                _oldest = 0;
            }

            _count--;
        }

        if (_count == 0)
        {
            _start = 0;
            _end = 0;
            _oldest = 0;
        }
    }

    // Moves the live octets to the front, into a larger buffer while the live ones and the new entry would
    // fill more than half of it (so moves stay rare) and the buffer is below its limit.
    private void MakeRoom(int length)
    {
        int live = _end - _start;
        int needed = live + length;
        byte[] target = _octets;
        if (needed > _octets.Length / 2 && _octets.Length < _bufferLimit)
        {
            int grown = Math.Max(FirstBufferLength, Math.Max(_octets.Length, needed) * 2);
            target = new byte[Math.Min(_bufferLimit, grown)];
        }

        _octets.AsSpan(_start, live).CopyTo(target);
        for (int i = 0, slot = _oldest; i < _count; i++)
        {
            _entries[slot].Offset -= _start;
            if (++slot == _entries.Length)
            {
                slot = 0;
            }
        }

        _octets = target;
        _start = 0;
        _end = live;
    }

    private void GrowEntries()
    {
        var grown = new Entry[Math.Min(_entryLimit, Math.Max(FirstEntryCount, _entries.Length * 2))];
        for (int i = 0, slot = _oldest; i < _count; i++)
        {
            grown[i] = _entries[slot];
            if (++slot == _entries.Length)
            {
                slot = 0;
            }
        }

        _entries = grown;
        _oldest = 0;
    }

    private struct Entry
    {
        public int Offset;
        public int NameLength;
        public int ValueLength;
    }
}
