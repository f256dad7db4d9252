using System.Buffers;
using System.Text;

namespace Weft.Proxy.Codecs.Http1;

/// <summary>Why a head was refused; each maps to one status and the connection closes.</summary>
internal enum HeadError
{
    None,
    BadRequest,          // 400
    HeadersTooLarge,     // 431
    UriTooLong,          // 414
}

/// <summary>
/// Strict RFC 9112 parsing of a head already known to end in CRLFCRLF: tokens for methods and field
/// names, no whitespace before the colon, no obs-fold, no CTL but HTAB in values, CR only before LF,
/// one Content-Length value, Transfer-Encoding exactly "chunked" and never with Content-Length.
/// Ambiguous framing is the request-smuggling surface: every doubt is a 400.
/// </summary>
internal static class Http1Parser
{
    private static readonly SearchValues<byte> TokenChars =
        SearchValues.Create("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"u8);

    // CTL except HTAB, and DEL: never in a field value.
    private static readonly SearchValues<byte> BadValueChars = SearchValues.Create(
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 127]);

    private static readonly SearchValues<byte> TargetChars = SearchValues.Create(
        "!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~"u8);

    private static ReadOnlySpan<byte> CrLfCrLf => "\r\n\r\n"u8;

    /// <summary>
    /// Where the head ends (index after CRLFCRLF) in <paramref name="buffer"/>, or -1 when not there yet.
    /// An error when the bytes so far already break a limit.
    /// </summary>
    public static long FindHeadEnd(in ReadOnlySequence<byte> buffer, int maxHead, int maxTarget, bool isRequest, out HeadError error)
    {
        error = HeadError.None;
        long end;
        if (buffer.IsSingleSegment)
        {
            var index = buffer.FirstSpan.IndexOf(CrLfCrLf);
            end = index < 0 ? -1 : index + 4;
        }
        else
        {
            var reader = new SequenceReader<byte>(buffer);
            end = reader.TryReadTo(out ReadOnlySequence<byte> _, CrLfCrLf, advancePastDelimiter: true) ? reader.Consumed : -1;
        }
        if (end > maxHead)
        {
            error = RequestLineTooLong(buffer, maxTarget, isRequest) ? HeadError.UriTooLong : HeadError.HeadersTooLarge;
            return -1;
        }
        if (end < 0 && buffer.Length >= maxHead)
            error = RequestLineTooLong(buffer, maxTarget, isRequest) ? HeadError.UriTooLong : HeadError.HeadersTooLarge;
        else if (end < 0 && isRequest && RequestLineTooLong(buffer, maxTarget, isRequest))
            error = HeadError.UriTooLong;
        return end;
    }

    private static bool RequestLineTooLong(in ReadOnlySequence<byte> buffer, int maxTarget, bool isRequest)
    {
        if (!isRequest)
            return false;
        // Method, two spaces and "HTTP/1.1" around the target: allow for a long method.
        var bound = maxTarget + 32;
        var head = buffer.Length > bound + 1 ? buffer.Slice(0, bound + 1) : buffer;
        return head.PositionOf((byte)'\n') is null && head.Length > bound;
    }

    public static HeadError ParseRequest(MessageHead head, Http1Limits limits)
    {
        var buffer = head.Buffer.AsSpan(0, head.Length);
        var lineEnd = LineEnd(buffer, 0);
        if (lineEnd < 0)
            return HeadError.BadRequest;
        var line = buffer[..lineEnd];
        var sp1 = line.IndexOf((byte)' ');
        if (sp1 <= 0 || line[..sp1].ContainsAnyExcept(TokenChars))
            return HeadError.BadRequest;
        var rest = line[(sp1 + 1)..];
        var sp2 = rest.IndexOf((byte)' ');
        if (sp2 <= 0)
            return HeadError.BadRequest;
        var target = rest[..sp2];
        if (target.Length > limits.MaxRequestTargetBytes)
            return HeadError.UriTooLong;
        if (target.ContainsAnyExcept(TargetChars))
            return HeadError.BadRequest;
        var version = rest[(sp2 + 1)..];
        if (version.SequenceEqual("HTTP/1.1"u8))
            head.Http10 = false;
        else if (version.SequenceEqual("HTTP/1.0"u8))
            head.Http10 = true;
        else
            return HeadError.BadRequest;
        head.MethodStart = 0;
        head.MethodLength = sp1;
        head.TargetStart = sp1 + 1;
        head.TargetLength = sp2;

        var error = ParseFields(head, lineEnd + 2, limits.MaxHeaderCount, isRequest: true);
        if (error != HeadError.None)
            return error;
        if (head.Chunked && head.Http10)
            return HeadError.BadRequest;
        if (head.HostCount > 1 || (head.HostCount == 0 && !head.Http10))
            return HeadError.BadRequest;
        return HeadError.None;
    }

    public static HeadError ParseResponse(MessageHead head, int maxFields)
    {
        var buffer = head.Buffer.AsSpan(0, head.Length);
        var lineEnd = LineEnd(buffer, 0);
        if (lineEnd < 12)
            return HeadError.BadRequest;
        var line = buffer[..lineEnd];
        if (line.StartsWith("HTTP/1.1 "u8))
            head.Http10 = false;
        else if (line.StartsWith("HTTP/1.0 "u8))
            head.Http10 = true;
        else
            return HeadError.BadRequest;
        var s0 = line[9] - '0';
        var s1 = line[10] - '0';
        var s2 = line[11] - '0';
        if ((uint)s0 > 9 || (uint)s1 > 9 || (uint)s2 > 9 || s0 == 0)
            return HeadError.BadRequest;
        head.Status = s0 * 100 + s1 * 10 + s2;
        if (line.Length > 12)
        {
            if (line[12] != ' ' || line[13..].ContainsAny(BadValueChars))
                return HeadError.BadRequest;
            head.ReasonStart = 13;
            head.ReasonLength = line.Length - 13;
        }
        return ParseFields(head, lineEnd + 2, maxFields, isRequest: false);
    }

    /// <summary>Index of the CR of the CRLF that ends the line starting at <paramref name="start"/>; -1 if a bare LF comes first.</summary>
    private static int LineEnd(ReadOnlySpan<byte> buffer, int start)
    {
        var lf = buffer[start..].IndexOf((byte)'\n');
        if (lf <= 0 || buffer[start + lf - 1] != '\r')
            return -1;
        return start + lf - 1;
    }

    private static HeadError ParseFields(MessageHead head, int position, int maxFields, bool isRequest)
    {
        var buffer = head.Buffer.AsSpan(0, head.Length);
        var connectionTokens = false;
        while (true)
        {
            var lineEnd = LineEnd(buffer, position);
            if (lineEnd < 0)
                return HeadError.BadRequest;
            if (lineEnd == position)
                break;                                   // the empty line: end of the head
            var line = buffer[position..lineEnd];
            // Leading whitespace is obs-fold (or a smuggled name): rejected, as RFC 9112 5.2 allows.
            var colon = line.IndexOf((byte)':');
            if (colon <= 0 || line[..colon].ContainsAnyExcept(TokenChars))
                return HeadError.BadRequest;
            var valueStart = colon + 1;
            var valueEnd = line.Length;
            while (valueStart < valueEnd && (line[valueStart] == ' ' || line[valueStart] == '\t'))
                valueStart++;
            while (valueEnd > valueStart && (line[valueEnd - 1] == ' ' || line[valueEnd - 1] == '\t'))
                valueEnd--;
            var value = line[valueStart..valueEnd];
            if (value.ContainsAny(BadValueChars))
                return HeadError.BadRequest;
            if (head.FieldCount == maxFields)
                return HeadError.HeadersTooLarge;
            if (head.FieldCount == head.Fields.Length)
                Array.Resize(ref head.Fields, head.Fields.Length * 2);
            var index = head.FieldCount++;
            ref var field = ref head.Fields[index];
            field.NameStart = position;
            field.NameLength = colon;
            field.ValueStart = position + valueStart;
            field.ValueLength = valueEnd - valueStart;
            field.Drop = false;
            field.Removed = false;
            field.Kind = Classify(line[..colon]);
            var error = Interpret(head, index, ref field, value, isRequest, ref connectionTokens);
            if (error != HeadError.None)
                return error;
            position = lineEnd + 2;
        }
        if (head.Chunked && head.ContentLength >= 0)
            return HeadError.BadRequest;
        if (connectionTokens)
            DropConnectionListed(head);
        return HeadError.None;
    }

    private static HeadError Interpret(MessageHead head, int index, ref HeaderField field, ReadOnlySpan<byte> value, bool isRequest, ref bool connectionTokens)
    {
        switch (field.Kind)
        {
            case FieldKind.Host:
                head.HostCount++;
                break;
            case FieldKind.ContentLength:
                field.Drop = true;                        // re-emitted by the proxy from the parsed value
                if (!TryParseLength(value, out var length))
                    return HeadError.BadRequest;
                if (head.ContentLength >= 0 && head.ContentLength != length)
                    return HeadError.BadRequest;
                head.ContentLength = length;
                break;
            case FieldKind.TransferEncoding:
                field.Drop = true;
                if (head.Chunked)
                    return HeadError.BadRequest;          // a second Transfer-Encoding line: ambiguous
                // Exactly "chunked": "xchunked", "chunked, identity", "gzip, chunked" are all refused (the
                // proxy does not decode codings, and a list is where parsers disagree).
                if (!Ascii.EqualsIgnoreCase(value, "chunked"u8))
                    return HeadError.BadRequest;
                head.Chunked = true;
                break;
            case FieldKind.Connection:
                field.Drop = true;
                foreach (var range in value.Split((byte)','))
                {
                    var token = value[range].Trim(" \t"u8);
                    if (Ascii.EqualsIgnoreCase(token, "close"u8))
                        head.ConnectionClose = true;
                    else if (Ascii.EqualsIgnoreCase(token, "keep-alive"u8))
                        head.ConnectionKeepAlive = true;
                    else if (Ascii.EqualsIgnoreCase(token, "upgrade"u8))
                        head.ConnectionUpgrade = true;
                    else if (!token.IsEmpty)
                        connectionTokens = true;
                }
                break;
            case FieldKind.Upgrade:
                field.Drop = true;
                head.UpgradeField = index;
                break;
            case FieldKind.Expect:
                if (isRequest && Ascii.EqualsIgnoreCase(value, "100-continue"u8))
                {
                    head.ExpectContinue = true;
                    field.Drop = true;                    // the proxy answers 100 itself (see Http1Connection)
                }
                break;
            case FieldKind.HopByHop:
                field.Drop = true;
                break;
            case FieldKind.WeftSource:
                head.SourceCount++;
                break;
            case FieldKind.ContentType:
                head.ContentTypeGrpc = Pipeline.GrpcContentType.Is(value);
                break;
        }
        return HeadError.None;
    }

    private static bool TryParseLength(ReadOnlySpan<byte> value, out long length)
    {
        length = 0;
        if (value.IsEmpty || value.Length > 18)
            return false;
        foreach (var b in value)
        {
            var d = b - '0';
            if ((uint)d > 9)
                return false;
            length = length * 10 + d;
        }
        return true;
    }

    // Cold: headers a Connection header names are hop-by-hop too.
    private static void DropConnectionListed(MessageHead head)
    {
        for (var c = 0; c < head.FieldCount; c++)
        {
            if (head.Fields[c].Kind != FieldKind.Connection)
                continue;
            var value = head.Value(c);
            foreach (var range in value.Split((byte)','))
            {
                var token = value[range].Trim(" \t"u8);
                if (token.IsEmpty)
                    continue;
                for (var i = 0; i < head.FieldCount; i++)
                {
                    if (Ascii.EqualsIgnoreCase(head.Name(i), token) && head.Fields[i].Kind is not FieldKind.Host)
                        head.Fields[i].Drop = true;
                }
            }
        }
    }

    private static FieldKind Classify(ReadOnlySpan<byte> name)
    {
        switch (name.Length)
        {
            case 4:
                if (Ascii.EqualsIgnoreCase(name, "host"u8)) return FieldKind.Host;
                break;
            case 6:
                if (Ascii.EqualsIgnoreCase(name, "expect"u8)) return FieldKind.Expect;
                break;
            case 7:
                if (Ascii.EqualsIgnoreCase(name, "upgrade"u8)) return FieldKind.Upgrade;
                break;
            case 10:
                if (Ascii.EqualsIgnoreCase(name, "connection"u8)) return FieldKind.Connection;
                break;
            case 12:
                if (Ascii.EqualsIgnoreCase(name, "content-type"u8)) return FieldKind.ContentType;
                break;
            case 13:
                if (Ascii.EqualsIgnoreCase(name, "x-weft-source"u8)) return FieldKind.WeftSource;
                break;
            case 14:
                if (Ascii.EqualsIgnoreCase(name, "content-length"u8)) return FieldKind.ContentLength;
                break;
            case 17:
                if (Ascii.EqualsIgnoreCase(name, "transfer-encoding"u8)) return FieldKind.TransferEncoding;
                break;
        }
        // The rest of the hop-by-hop list (TE, Trailer, Keep-Alive, Proxy-*...): the one definition.
        if (Pipeline.HopByHop.Is(name))
            return FieldKind.HopByHop;
        if (name.Length >= 7 && Ascii.EqualsIgnoreCase(name[..7], "x-weft-"u8))
            return FieldKind.WeftOther;
        return FieldKind.Other;
    }
}
