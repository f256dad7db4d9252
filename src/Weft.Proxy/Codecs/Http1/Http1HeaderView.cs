using System.Text;
using Weft.Proxy.Pipeline;

namespace Weft.Proxy.Codecs.Http1;

/// <summary>
/// The fields of an HTTP/1.1 head as the pipeline sees them, over the raw head itself: nothing is
/// turned into strings unless a step asks for a value (route matching on headers, the identity claim).
/// Edits mark fields removed and add fields of their own; written out as HTTP/1.1, the kept fields are
/// copied as received bytes. One per message side, reused.
/// </summary>
internal sealed class Http1HeaderView : HeaderView
{
    private readonly List<KeyValuePair<string, string>> _added = [];

    public MessageHead Head { get; private set; } = null!;

    /// <summary>Fields added by the pipeline (the identity header, header modifiers), after the kept ones.</summary>
    public List<KeyValuePair<string, string>> Added => _added;

    public void Bind(MessageHead head)
    {
        Head = head;
        _added.Clear();
    }

    /// <summary>
    /// Whether field <paramref name="i"/> is named <paramref name="name"/>. The identity header, asked
    /// for on every request, is known by the kind the parser gave it: no name comparison.
    /// </summary>
    private bool Is(int i, string name)
    {
        ref var field = ref Head.Fields[i];
        if (ReferenceEquals(name, SourceIdentity.HeaderName))
            return field.Kind == FieldKind.WeftSource;
        return field.NameLength == name.Length && Ascii.EqualsIgnoreCase(Head.Name(i), name);
    }

    public override string? Get(string name)
    {
        string? joined = null;
        var head = Head;
        for (var i = 0; i < head.FieldCount; i++)
        {
            if (head.Fields[i].Removed || !Is(i, name))
                continue;
            var value = Encoding.Latin1.GetString(head.Value(i));
            joined = joined is null ? value : joined + ", " + value;
        }
        foreach (var (n, v) in _added)
        {
            if (string.Equals(n, name, StringComparison.OrdinalIgnoreCase))
                joined = joined is null ? v : joined + ", " + v;
        }
        return joined;
    }

    public override int Count(string name)
    {
        var count = 0;
        var head = Head;
        for (var i = 0; i < head.FieldCount; i++)
        {
            if (!head.Fields[i].Removed && Is(i, name))
                count++;
        }
        foreach (var (n, _) in _added)
        {
            if (string.Equals(n, name, StringComparison.OrdinalIgnoreCase))
                count++;
        }
        return count;
    }

    public override void Set(string name, string value)
    {
        Remove(name);
        _added.Add(new(name, value));
    }

    public override void Append(string name, string value) => _added.Add(new(name, value));

    public override void Remove(string name)
    {
        var head = Head;
        for (var i = 0; i < head.FieldCount; i++)
        {
            if (Is(i, name))
                head.Fields[i].Removed = head.Fields[i].Drop = true;
        }
        // A loop, not RemoveAll with a lambda: capturing the parameter would allocate on every call.
        for (var i = _added.Count - 1; i >= 0; i--)
        {
            if (string.Equals(_added[i].Key, name, StringComparison.OrdinalIgnoreCase))
                _added.RemoveAt(i);
        }
    }

    public override void RemoveWithPrefix(string prefix)
    {
        var head = Head;
        for (var i = 0; i < head.FieldCount; i++)
        {
            ref var field = ref head.Fields[i];
            var fieldName = head.Name(i);
            if (fieldName.Length >= prefix.Length && Ascii.EqualsIgnoreCase(fieldName[..prefix.Length], prefix))
                field.Removed = field.Drop = true;
        }
        for (var i = _added.Count - 1; i >= 0; i--)
        {
            if (_added[i].Key.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
                _added.RemoveAt(i);
        }
    }

    public override void CopyTo(IHeaderSink sink, bool toHttp2)
    {
        var head = Head;
        for (var i = 0; i < head.FieldCount; i++)
        {
            if (head.Fields[i].Drop)
                continue;
            sink.Add(Encoding.Latin1.GetString(head.Name(i)), Encoding.Latin1.GetString(head.Value(i)));
        }
        foreach (var (n, v) in _added)
            sink.Add(n, v);
    }

    /// <summary>Upper bound of what <see cref="WriteTo"/> writes.</summary>
    public int MaxHttp1Length
    {
        get
        {
            var length = Head.Length;
            foreach (var (n, v) in _added)
                length += n.Length + v.Length + 4;
            return length;
        }
    }

    /// <summary>The kept fields as received, then the added ones, as HTTP/1.1 field lines.</summary>
    public void WriteTo(ref HeadBuilder w)
    {
        w.AddFields(Head);
        foreach (var (n, v) in _added)
        {
            w.AddLatin1(n);
            w.Add(": "u8);
            w.AddLatin1(v);
            w.Add("\r\n"u8);
        }
    }
}
