using System.IO.Pipelines;
using System.Text;

namespace Weft.Proxy.Codecs.Http1;

/// <summary>
/// Writes a head into one span taken from the writer, then advances once. A head is ~15 pieces; a
/// GetSpan/Advance pair per piece costs a writer's bookkeeping (on the loop transport, a lock) each
/// time, once per head this way. The caller sizes the span to the head's upper bound.
/// </summary>
internal ref struct HeadBuilder
{
    private readonly PipeWriter _output;
    private readonly Span<byte> _span;
    private int _position;

    public HeadBuilder(PipeWriter output, int capacity)
    {
        _output = output;
        _span = output.GetSpan(capacity);
    }

    public void Add(scoped ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(_span[_position..]);
        _position += bytes.Length;
    }

    public void AddNumber(long value)
    {
        value.TryFormat(_span[_position..], out var written, default, System.Globalization.CultureInfo.InvariantCulture);
        _position += written;
    }

    /// <summary>The head's field lines as received, minus those marked dropped.</summary>
    public void AddFields(MessageHead head)
    {
        for (var i = 0; i < head.FieldCount; i++)
        {
            if (head.Fields[i].Drop)
                continue;
            Add(head.Line(i));
            Add("\r\n"u8);
        }
    }

    /// <summary>A field line: <paramref name="start"/> (name and ": ", or whole lines before it), the number, CRLF.</summary>
    public void AddLine(scoped ReadOnlySpan<byte> start, long number)
    {
        Add(start);
        AddNumber(number);
        Add("\r\n"u8);
    }

    /// <summary>A field line: <paramref name="start"/> (name and ": ", or whole lines before it), the value, CRLF.</summary>
    public void AddLine(scoped ReadOnlySpan<byte> start, scoped ReadOnlySpan<byte> value)
    {
        Add(start);
        Add(value);
        Add("\r\n"u8);
    }

    public void AddLatin1(string value) => _position += Encoding.Latin1.GetBytes(value, _span[_position..]);

    public void AddUtf8(string value) => _position += Encoding.UTF8.GetBytes(value, _span[_position..]);

    /// <summary>Hands what was built to the writer.</summary>
    public readonly void Commit() => _output.Advance(_position);
}
