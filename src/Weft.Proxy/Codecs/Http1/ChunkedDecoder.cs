using System.Buffers;

namespace Weft.Proxy.Codecs.Http1;

/// <summary>What <see cref="ChunkedDecoder.Next"/> found.</summary>
internal enum ChunkStep : byte
{
    /// <summary>The reader stands at chunk data; <see cref="ChunkedDecoder.DataRemaining"/> bytes of it are left.</summary>
    Data,
    /// <summary>Every byte was framing and the framing is not complete yet.</summary>
    NeedMore,
    /// <summary>The last chunk and its trailer section were read: the body is over.</summary>
    Done,
    Malformed,
}

/// <summary>
/// Chunked framing (RFC 9112 7.1), strictly: hex sizes of at most 15 digits, chunk extensions to the
/// grammar (`*( BWS ";" BWS token [ BWS "=" BWS ( token / quoted-string ) ] )`), CRLF everywhere, trailer
/// fields checked and dropped. It walks over framing and stops at data, which the caller takes in
/// place (no copy); the caller says how much data it consumed. A struct, so a copy can probe buffered
/// bytes without disturbing the real one.
/// </summary>
internal struct ChunkedDecoder
{
    private enum State : byte
    {
        Size, AfterSizeBws, ExtNameBws, ExtName, AfterExtNameBws, ExtValueBws, ExtToken, ExtQuoted, ExtQuotedPair, ExtQuotedEnd,
        AfterExtValueBws, SizeLf, Data, DataCr, DataLf, Trailer, Done,
    }

    private State _state;
    private long _remaining;
    private int _sizeDigits;
    private int _lineBytes;
    private bool _trailerLineEmpty;

    public readonly bool IsDone => _state == State.Done;

    /// <summary>Bytes of the current chunk's data not consumed yet (valid after <see cref="ChunkStep.Data"/>).</summary>
    public readonly long DataRemaining => _state == State.Data ? _remaining : 0;

    /// <summary>The caller consumed <paramref name="bytes"/> of the current chunk's data.</summary>
    public void ConsumedData(long bytes)
    {
        _remaining -= bytes;
        if (_remaining == 0 && _state == State.Data)
            _state = State.DataCr;
    }

    /// <summary>Reads framing from <paramref name="reader"/> until chunk data, the body's end, or the input's end.</summary>
    public ChunkStep Next(ref SequenceReader<byte> reader, int maxLine, int maxTrailer)
    {
        while (true)
        {
            if (_state == State.Data)
                return ChunkStep.Data;
            if (_state == State.Done)
                return ChunkStep.Done;
            if (!reader.TryRead(out var b))
                return ChunkStep.NeedMore;
            if (!Step(b, ref reader, maxLine, maxTrailer))
                return ChunkStep.Malformed;
        }
    }

    private bool Step(byte b, ref SequenceReader<byte> reader, int maxLine, int maxTrailer)
    {
        if (_state < State.Data && ++_lineBytes > maxLine)
            return false;
        var space = b is (byte)' ' or (byte)'\t';
        switch (_state)
        {
            case State.Size:
                var digit = HexValue(b);
                if (digit >= 0)
                {
                    if (++_sizeDigits > 15)
                        return false;
                    _remaining = _remaining * 16 + digit;
                    return true;
                }
                if (_sizeDigits == 0)
                    return false;
                return space ? Go(State.AfterSizeBws) : b == ';' ? Go(State.ExtNameBws) : b == '\r' && Go(State.SizeLf);
            case State.AfterSizeBws:
                // BWS only ever comes before a ';': never at the end of the line.
                return space || (b == ';' && Go(State.ExtNameBws));
            case State.ExtNameBws:
                return space || (IsToken(b) && Go(State.ExtName));
            case State.ExtName:
                if (IsToken(b))
                    return true;
                return space ? Go(State.AfterExtNameBws) : b == '=' ? Go(State.ExtValueBws) : b == ';' ? Go(State.ExtNameBws) : b == '\r' && Go(State.SizeLf);
            case State.AfterExtNameBws:
                return space || (b == '=' ? Go(State.ExtValueBws) : b == ';' && Go(State.ExtNameBws));
            case State.ExtValueBws:
                return space || (b == '"' ? Go(State.ExtQuoted) : IsToken(b) && Go(State.ExtToken));
            case State.ExtToken:
                if (IsToken(b))
                    return true;
                return space ? Go(State.AfterExtValueBws) : b == ';' ? Go(State.ExtNameBws) : b == '\r' && Go(State.SizeLf);
            case State.ExtQuoted:
                // qdtext: HTAB, SP, 0x21, 0x23-0x5B, 0x5D-0x7E, obs-text; '\\' starts a quoted-pair.
                if (b == '"')
                    return Go(State.ExtQuotedEnd);
                if (b == '\\')
                    return Go(State.ExtQuotedPair);
                return space || (b >= 0x21 && b != 0x7F);
            case State.ExtQuotedPair:
                return (space || (b >= 0x21 && b != 0x7F)) && Go(State.ExtQuoted);
            case State.ExtQuotedEnd:
                return space ? Go(State.AfterExtValueBws) : b == ';' ? Go(State.ExtNameBws) : b == '\r' && Go(State.SizeLf);
            case State.AfterExtValueBws:
                return space || (b == ';' && Go(State.ExtNameBws));
            case State.SizeLf:
                if (b != '\n')
                    return false;
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
                return true;
            case State.DataCr:
                return b == '\r' && Go(State.DataLf);
            case State.DataLf:
                return b == '\n' && Go(State.Size);
            case State.Trailer:
                return Trailer(b, ref reader, maxTrailer);
            default:
                return false;
        }
    }

    private bool Go(State next)
    {
        _state = next;
        return true;
    }

    private bool Trailer(byte b, ref SequenceReader<byte> reader, int maxTrailer)
    {
        // Trailer fields: within bounds and free of CTLs, then dropped (never forwarded).
        if (++_lineBytes > maxTrailer)
            return false;
        if (b == '\r')
        {
            if (!reader.TryRead(out var lf))
            {
                reader.Rewind(1);
                _lineBytes--;
                return true;                    // NeedMore follows: the CR is read again with its LF
            }
            if (lf != '\n')
                return false;
            if (_trailerLineEmpty)
            {
                _state = State.Done;
                return true;
            }
            _trailerLineEmpty = true;
            return true;
        }
        if ((b < 0x20 && b != '\t') || b == 0x7F || (_trailerLineEmpty && (b == ' ' || b == '\t')))
            return false;
        _trailerLineEmpty = false;
        return true;
    }

    private static bool IsToken(byte b) =>
        b < 128 && TokenTable[b];

    private static readonly bool[] TokenTable = MakeTokenTable();

    private static bool[] MakeTokenTable()
    {
        var table = new bool[128];
        foreach (var c in "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
            table[c] = true;
        return table;
    }

    private static int HexValue(byte b) => b switch
    {
        >= (byte)'0' and <= (byte)'9' => b - '0',
        >= (byte)'a' and <= (byte)'f' => b - 'a' + 10,
        >= (byte)'A' and <= (byte)'F' => b - 'A' + 10,
        _ => -1,
    };

    /// <summary>Probes chunked bytes already buffered after a head: false when what is there is malformed.</summary>
    public static bool Probe(in ReadOnlySequence<byte> buffered, int maxLine, int maxTrailer)
    {
        var probe = new ChunkedDecoder();
        var reader = new SequenceReader<byte>(buffered);
        while (true)
        {
            switch (probe.Next(ref reader, maxLine, maxTrailer))
            {
                case ChunkStep.Malformed:
                    return false;
                case ChunkStep.Data:
                    var skip = (long)Math.Min(probe.DataRemaining, reader.Remaining);
                    reader.Advance(skip);
                    probe.ConsumedData(skip);
                    if (reader.End)
                        return true;
                    break;
                default:
                    return true;
            }
        }
    }

    public static void WriteChunkHeader(IBufferWriter<byte> output, int length)
    {
        var span = output.GetSpan(10);
        length.TryFormat(span, out var written, "x");
        span[written] = (byte)'\r';
        span[written + 1] = (byte)'\n';
        output.Advance(written + 2);
    }
}
