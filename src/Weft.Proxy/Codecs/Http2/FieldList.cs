using System.Buffers;
using System.Text;
using Weft.Proxy.Pipeline;

namespace Weft.Proxy.Codecs.Http2;

/// <summary>
/// Header fields as HPACK decoded them (a request's on the server side, a response's or trailers' on
/// the client side), kept as bytes in one pooled buffer: the pipeline's <see cref="HeaderView"/> reads
/// and edits them, and an HTTP/2 encoder copies them out as bytes, so a field that only crosses the
/// proxy is never a string. Names are lowercase (HTTP/2 requires it); pseudo-headers are not here, except
/// the authority, kept as <c>host</c> (as Kestrel and HttpClient show it).
/// </summary>
internal sealed class FieldList : HeaderView
{
    private struct Field
    {
        public int NameStart, NameLength, ValueStart, ValueLength;
        public bool Removed;
    }

    private byte[] _bytes = [];
    private int _used;
    private Field[] _fields = new Field[16];
    private int _count;

    /// <summary>Fields added, removed ones included (see <see cref="TryGet"/>).</summary>
    public int Length => _count;

    /// <summary>Decoded bytes of names and values (what SETTINGS_MAX_HEADER_LIST_SIZE measures, less the 32 per field).</summary>
    public int ByteCount => _used;

    public void Clear()
    {
        _count = 0;
        _used = 0;
    }

    /// <summary>Gives the buffer back when it grew past the usual (a request with huge headers does not pin it).</summary>
    public void Shrink()
    {
        if (_bytes.Length > 16 * 1024)
        {
            ArrayPool<byte>.Shared.Return(_bytes);
            _bytes = [];
        }
    }

    public void Add(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
    {
        var slot = Append(name.Length, value.Length);
        name.CopyTo(slot);
        value.CopyTo(slot[name.Length..]);
    }

    private void Add(string name, string value)
    {
        var slot = Append(name.Length, value.Length);
        Ascii.ToLower(name, slot[..name.Length], out _);
        Encoding.Latin1.GetBytes(value, slot[name.Length..]);
    }

    /// <summary>Room for the next field's name then value (one byte per character), recorded as that field: the caller fills both.</summary>
    private Span<byte> Append(int nameLength, int valueLength)
    {
        EnsureFree(nameLength + valueLength);
        if (_count == _fields.Length)
            Array.Resize(ref _fields, _count * 2);
        ref var f = ref _fields[_count++];
        f.NameStart = _used;
        f.NameLength = nameLength;
        f.ValueStart = _used + nameLength;
        f.ValueLength = valueLength;
        f.Removed = false;
        _used += nameLength + valueLength;
        return _bytes.AsSpan(f.NameStart, nameLength + valueLength);
    }

    private void EnsureFree(int needed)
    {
        if (_bytes.Length - _used >= needed)
            return;
        var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(Math.Max(_bytes.Length * 2, 1024), _used + needed));
        _bytes.AsSpan(0, _used).CopyTo(bigger);
        if (_bytes.Length != 0)
            ArrayPool<byte>.Shared.Return(_bytes);
        _bytes = bigger;
    }

    /// <summary>Field <paramref name="index"/>'s name and value; false when the pipeline removed it.</summary>
    public bool TryGet(int index, out ReadOnlySpan<byte> name, out ReadOnlySpan<byte> value)
    {
        ref var f = ref _fields[index];
        name = _bytes.AsSpan(f.NameStart, f.NameLength);
        value = _bytes.AsSpan(f.ValueStart, f.ValueLength);
        return !f.Removed;
    }

    private bool NameIs(in Field f, string name) =>
        f.NameLength == name.Length && !f.Removed && Ascii.EqualsIgnoreCase(_bytes.AsSpan(f.NameStart, f.NameLength), name);

    /// <summary>The first value of a field named <paramref name="name"/> (lowercase), as bytes; false when none.</summary>
    public bool TryGetValue(ReadOnlySpan<byte> name, out ReadOnlySpan<byte> value)
    {
        for (var i = 0; i < _count; i++)
        {
            ref var f = ref _fields[i];
            if (!f.Removed && _bytes.AsSpan(f.NameStart, f.NameLength).SequenceEqual(name))
            {
                value = _bytes.AsSpan(f.ValueStart, f.ValueLength);
                return true;
            }
        }
        value = default;
        return false;
    }

    public override string? Get(string name)
    {
        string? joined = null;
        for (var i = 0; i < _count; i++)
        {
            ref var f = ref _fields[i];
            if (!NameIs(f, name))
                continue;
            var value = Encoding.Latin1.GetString(_bytes, f.ValueStart, f.ValueLength);
            joined = joined is null ? value : joined + ", " + value;
        }
        return joined;
    }

    public override int Count(string name)
    {
        var count = 0;
        for (var i = 0; i < _count; i++)
        {
            if (NameIs(_fields[i], name))
                count++;
        }
        return count;
    }

    public override void Set(string name, string value)
    {
        Remove(name);
        Add(name, value);
    }

    public override void Append(string name, string value) => Add(name, value);

    public override void Remove(string name)
    {
        for (var i = 0; i < _count; i++)
        {
            if (NameIs(_fields[i], name))
                _fields[i].Removed = true;
        }
    }

    public override void RemoveWithPrefix(string prefix)
    {
        for (var i = 0; i < _count; i++)
        {
            ref var f = ref _fields[i];
            if (!f.Removed && f.NameLength >= prefix.Length && Ascii.EqualsIgnoreCase(_bytes.AsSpan(f.NameStart, prefix.Length), prefix))
                f.Removed = true;
        }
    }

    /// <summary>
    /// As strings, for a codec that takes them (HTTP/1.1, cold on the HTTP/2 path). HTTP/2 fields carry
    /// no connection-specific ones (a request with them is malformed), only TE: trailers, which an
    /// HTTP/1.1 upstream does not get.
    /// </summary>
    public override void CopyTo(IHeaderSink sink, bool toHttp2)
    {
        for (var i = 0; i < _count; i++)
        {
            ref var f = ref _fields[i];
            if (f.Removed)
                continue;
            var name = _bytes.AsSpan(f.NameStart, f.NameLength);
            if (Forwards(name, toHttp2))
                sink.Add(Encoding.Latin1.GetString(name), Encoding.Latin1.GetString(_bytes, f.ValueStart, f.ValueLength));
        }
    }

    /// <summary>Whether a field crosses the proxy: hop-by-hop ones stay, but for TE (only "trailers" is valid on HTTP/2) toward an HTTP/2 peer.</summary>
    public static bool Forwards(ReadOnlySpan<byte> name, bool toHttp2)
    {
        if (name.Length == 2 && name[0] == (byte)'t' && name[1] == (byte)'e')
            return toHttp2;
        return !HopByHop.Is(name) && !IsFraming(name);
    }

    private static bool IsFraming(ReadOnlySpan<byte> name) => name.Length switch
    {
        14 => name.SequenceEqual("content-length"u8),
        17 => name.SequenceEqual("transfer-encoding"u8),
        _ => false,
    };
}
