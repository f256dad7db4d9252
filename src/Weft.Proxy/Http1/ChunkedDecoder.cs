using System.Buffers;

namespace Weft.Proxy.Http1;

/// <summary>
/// Incremental chunked-body decoder (RFC 9112 7.1): bounded hex sizes, bounded extensions, CRLF
/// after each chunk, trailer fields validated and dropped. Feed it what the pipe holds; it hands
/// out data pieces and says how far it consumed. A struct, so a copy can probe buffered bytes
/// without disturbing the real one.
/// </summary>
internal struct ChunkedDecoder
{
    private enum State : byte { Size, Extension, SizeLf, Data, DataCr, DataLf, Trailer, Done }

    private State _state;
    private long _remaining;
    private int _sizeDigits;
    private int _lineBytes;
    private bool _trailerLineEmpty;

    public readonly bool IsDone => _state == State.Done;

    /// <summary>
    /// Decodes from <paramref name="buffer"/>; each data piece goes to <paramref name="onData"/>'s
    /// writer (skipped when null). Returns false on malformed input. <paramref name="consumed"/> is
    /// where the next call must start.
    /// </summary>
    public bool Decode(in ReadOnlySequence<byte> buffer, IBufferWriter<byte>? output, bool encode, int maxLine, int maxTrailer,
        out SequencePosition consumed)
    {
        var reader = new SequenceReader<byte>(buffer);
        while (!reader.End && _state != State.Done)
        {
            if (_state == State.Data)
            {
                var take = (int)Math.Min(_remaining, reader.UnreadSpan.Length);
                var piece = reader.UnreadSpan[..take];
                if (output is not null)
                {
                    if (encode)
                        WriteChunkHeader(output, take);
                    output.Write(piece);
                    if (encode)
                        output.Write("\r\n"u8);
                }
                reader.Advance(take);
                _remaining -= take;
                if (_remaining == 0)
                    _state = State.DataCr;
                continue;
            }
            reader.TryRead(out var b);
            switch (_state)
            {
                case State.Size:
                    var digit = HexValue(b);
                    if (digit >= 0)
                    {
                        if (++_sizeDigits > 15)
                            return Fail(reader, out consumed);
                        _remaining = _remaining * 16 + digit;
                        _lineBytes++;
                        break;
                    }
                    if (_sizeDigits == 0)
                        return Fail(reader, out consumed);
                    if (b == '\r')
                        _state = State.SizeLf;
                    else if (b == ';' || b == ' ' || b == '\t')
                        _state = State.Extension;
                    else
                        return Fail(reader, out consumed);
                    break;
                case State.Extension:
                    if (++_lineBytes > maxLine)
                        return Fail(reader, out consumed);
                    if (b == '\r')
                        _state = State.SizeLf;
                    else if ((b < 0x20 && b != '\t') || b == 0x7F)
                        return Fail(reader, out consumed);
                    break;
                case State.SizeLf:
                    if (b != '\n')
                        return Fail(reader, out consumed);
                    _sizeDigits = 0;
                    _lineBytes = 0;
                    if (_remaining == 0)
                    {
                        _state = State.Trailer;
                        _trailerLineEmpty = true;
                    }
                    else
                    {
                        _state = State.Data;
                    }
                    break;
                case State.DataCr:
                    if (b != '\r')
                        return Fail(reader, out consumed);
                    _state = State.DataLf;
                    break;
                case State.DataLf:
                    if (b != '\n')
                        return Fail(reader, out consumed);
                    _state = State.Size;
                    break;
                case State.Trailer:
                    // Trailer fields: kept within bounds and free of CTLs, then dropped (not forwarded).
                    if (++_lineBytes > maxTrailer)
                        return Fail(reader, out consumed);
                    if (b == '\r')
                    {
                        if (!reader.TryRead(out var lf))
                        {
                            reader.Rewind(1);
                            _lineBytes--;
                            consumed = reader.Position;
                            return true;
                        }
                        if (lf != '\n')
                            return Fail(reader, out consumed);
                        if (_trailerLineEmpty)
                        {
                            _state = State.Done;
                            if (output is not null && encode)
                                output.Write("0\r\n\r\n"u8);
                            break;
                        }
                        _trailerLineEmpty = true;
                    }
                    else if ((b < 0x20 && b != '\t') || b == 0x7F || (_trailerLineEmpty && (b == ' ' || b == '\t')))
                    {
                        return Fail(reader, out consumed);
                    }
                    else
                    {
                        _trailerLineEmpty = false;
                    }
                    break;
            }
        }
        consumed = reader.Position;
        return true;
    }

    private static bool Fail(in SequenceReader<byte> reader, out SequencePosition consumed)
    {
        consumed = reader.Position;
        return false;
    }

    private static int HexValue(byte b) => b switch
    {
        >= (byte)'0' and <= (byte)'9' => b - '0',
        >= (byte)'a' and <= (byte)'f' => b - 'a' + 10,
        >= (byte)'A' and <= (byte)'F' => b - 'A' + 10,
        _ => -1,
    };

    public static void WriteChunkHeader(IBufferWriter<byte> output, int length)
    {
        var span = output.GetSpan(10);
        length.TryFormat(span, out var written, "x");
        span[written] = (byte)'\r';
        span[written + 1] = (byte)'\n';
        output.Advance(written + 2);
    }
}
