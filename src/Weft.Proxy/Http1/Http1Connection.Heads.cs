using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;
using Weft.Protocol.Discovery;
using Weft.Proxy.Routing;

namespace Weft.Proxy.Http1;

/// <summary>
/// Writing heads: the forwarded request (raw field lines minus dropped ones, plus framing the proxy
/// decides), the relayed response, and the proxy's own answers. Field lines are copied as bytes;
/// only routes with header modifiers go through a dictionary.
/// </summary>
internal sealed partial class Http1Connection
{
    // Upper bound of what a head adds to the fields it relays: status or request line rewritten,
    // framing, Connection/Upgrade lines (the Upgrade value is bounded by the head itself).
    private const int HeadOverhead = 160;

    private void WriteRequestHead(PipeWriter output, RouteRuntime route, Direction direction)
    {
        var head = _request;
        var addSource = direction != Direction.Inbound;
        var modified = route.RequestModifiers.Length == 0 ? null : ModifiedRequestFields(route.RequestModifiers, addSource);
        var authority = head.HostCount == 0 ? _endpoint!.Authority : "";
        var w = new HeadBuilder(output, 2 * head.Length + HeadOverhead + _handler.SourceHeaderLine.Length + authority.Length + (modified?.Length ?? 0));
        w.Add(head.Method);
        w.Add(" "u8);
        w.Add(head.Target);
        w.Add(" HTTP/1.1\r\n"u8);
        if (modified is not null)
        {
            w.Add(modified);
        }
        else
        {
            w.AddFields(head);
            if (addSource)
                w.Add(_handler.SourceHeaderLine);
        }
        if (head.HostCount == 0)
        {
            w.Add("Host: "u8);
            w.AddLatin1(authority);
            w.Add("\r\n"u8);
        }
        if (head.Chunked)
        {
            w.Add("Transfer-Encoding: chunked\r\n"u8);
        }
        else if (head.ContentLength >= 0)
        {
            w.AddLine("Content-Length: "u8, head.ContentLength);
        }
        if (head.IsUpgrade)
        {
            w.AddLine("Connection: Upgrade\r\nUpgrade: "u8, head.Value(head.UpgradeField));
        }
        w.Add("\r\n"u8);
        w.Commit();
    }

    // Cold: a route with request header modifiers edits the head as a dictionary; its field lines as bytes.
    private byte[] ModifiedRequestFields(HeaderModifierRuntime[] modifiers, bool addSource)
    {
        var headers = new HeaderDictionary();
        FillHeaders(headers, forwarding: true);
        if (addSource)
            headers[ProxyPipeline.SourceHeader] = _handler.SourceHeaderValue;
        HeaderModifierRuntime.Apply(modifiers, headers);
        return FieldLines(headers);
    }

    private static byte[] FieldLines(IHeaderDictionary headers)
    {
        var lines = new ArrayBufferWriter<byte>();
        foreach (var (name, values) in headers)
        {
            foreach (var value in values)
            {
                WriteLatin1(lines, name);
                lines.Write(": "u8);
                WriteLatin1(lines, value ?? "");
                lines.Write("\r\n"u8);
            }
        }
        return lines.WrittenSpan.ToArray();
    }

    private void WriteResponseHead(MessageHead head, HeaderModifierRuntime[] modifiers, bool noBody, bool upgrade)
    {
        var modified = modifiers.Length == 0 ? null : ModifiedResponseFields(head, modifiers);
        var upgradeValue = upgrade ? UpgradeValue(head) : default;
        var w = new HeadBuilder(_output, head.Length + HeadOverhead + upgradeValue.Length + (modified?.Length ?? 0));
        w.Add("HTTP/1.1 "u8);
        w.AddNumber(head.Status);
        w.Add(" "u8);
        w.Add(head.Reason);
        w.Add("\r\n"u8);
        if (modified is not null)
            w.Add(modified);
        else
            w.AddFields(head);
        if (head.ContentLength >= 0)
        {
            w.AddLine("Content-Length: "u8, head.ContentLength);
        }
        else if (head.Chunked && !noBody && !_request.Http10)
        {
            w.Add("Transfer-Encoding: chunked\r\n"u8);
        }
        if (upgrade)
        {
            w.AddLine("Connection: Upgrade\r\nUpgrade: "u8, upgradeValue);
        }
        else if (_closeAfter)
        {
            w.Add("Connection: close\r\n"u8);
        }
        else if (_request.Http10)
        {
            w.Add("Connection: keep-alive\r\n"u8);
        }
        w.Add("\r\n"u8);
        w.Commit();
    }

    // A 101 without Upgrade switched to what was offered.
    private ReadOnlySpan<byte> UpgradeValue(MessageHead head) =>
        head.UpgradeField >= 0 ? head.Value(head.UpgradeField) : _request.Value(_request.UpgradeField);

    // Cold: response header modifiers; the field lines as bytes.
    private byte[] ModifiedResponseFields(MessageHead head, HeaderModifierRuntime[] modifiers)
    {
        var headers = _responseHeaders ??= new HeaderDictionary();
        headers.Clear();
        for (var i = 0; i < head.FieldCount; i++)
        {
            if (!head.Fields[i].Drop)
                headers.Append(Encoding.Latin1.GetString(head.Name(i)), Encoding.Latin1.GetString(head.Value(i)));
        }
        HeaderModifierRuntime.Apply(modifiers, headers);
        return FieldLines(headers);
    }

    private ValueTask RejectAsync(HeadError error) => error switch
    {
        HeadError.HeadersTooLarge => RejectAsync(StatusCodes.Status431RequestHeaderFieldsTooLarge, "headers_too_large", "the request head is over the limit\n"),
        HeadError.UriTooLong => RejectAsync(StatusCodes.Status414UriTooLong, "uri_too_long", "the request target is over the limit\n"),
        _ => RejectAsync(StatusCodes.Status400BadRequest, "malformed_request", "the request is not valid HTTP/1.1\n"),
    };

    /// <summary>A refused request: status, one line, Connection: close. Nothing went upstream.</summary>
    private async ValueTask RejectAsync(int status, string reason, string message)
    {
        _closeAfter = true;
        await WriteErrorAsync(status, reason, message).ConfigureAwait(false);
    }

    private async ValueTask WriteErrorAsync(int status, string reason, string message)
    {
        _code = status;
        var output = _output;
        output.Write("HTTP/1.1 "u8);
        WriteNumber(output, status);
        output.Write(" "u8);
        WriteLatin1(output, ReasonPhrases.GetReasonPhrase(status));
        output.Write("\r\nContent-Type: text/plain; charset=utf-8\r\nx-weft-reason: "u8);
        WriteLatin1(output, reason);
        output.Write("\r\nContent-Length: "u8);
        WriteNumber(output, Encoding.UTF8.GetByteCount(message));
        output.Write(_closeAfter || _closeRequested || _handler.Draining() ? "\r\nConnection: close\r\n\r\n"u8 : "\r\n\r\n"u8);
        var span = output.GetSpan(Encoding.UTF8.GetMaxByteCount(message.Length));
        output.Advance(Encoding.UTF8.GetBytes(message, span));
        if (_closeRequested || _handler.Draining())
            _closeAfter = true;
        await BodyCopy.FlushAsync(output).ConfigureAwait(false);
    }

    private static void WriteNumber(IBufferWriter<byte> output, long value)
    {
        var span = output.GetSpan(20);
        value.TryFormat(span, out var written, default, System.Globalization.CultureInfo.InvariantCulture);
        output.Advance(written);
    }

    private static void WriteLatin1(IBufferWriter<byte> output, string value)
    {
        var span = output.GetSpan(value.Length);
        output.Advance(Encoding.Latin1.GetBytes(value, span));
    }
}
