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
    private void WriteRequestHead(PipeWriter output, RouteRuntime route, Direction direction)
    {
        var head = _request;
        output.Write(head.Method);
        output.Write(" "u8);
        output.Write(head.Target);
        output.Write(" HTTP/1.1\r\n"u8);
        var addSource = direction != Direction.Inbound;
        if (route.RequestModifiers.Length == 0)
        {
            for (var i = 0; i < head.FieldCount; i++)
            {
                if (head.Fields[i].Drop)
                    continue;
                output.Write(head.Line(i));
                output.Write("\r\n"u8);
            }
            if (addSource)
                output.Write(_handler.SourceHeaderLine);
        }
        else
        {
            WriteModifiedRequestFields(output, route.RequestModifiers, addSource);
        }
        if (head.HostCount == 0)
        {
            output.Write("Host: "u8);
            WriteLatin1(output, _endpoint!.Authority);
            output.Write("\r\n"u8);
        }
        if (head.Chunked)
        {
            output.Write("Transfer-Encoding: chunked\r\n"u8);
        }
        else if (head.ContentLength >= 0)
        {
            output.Write("Content-Length: "u8);
            WriteNumber(output, head.ContentLength);
            output.Write("\r\n"u8);
        }
        if (head.IsUpgrade)
        {
            output.Write("Connection: Upgrade\r\nUpgrade: "u8);
            output.Write(head.Value(head.UpgradeField));
            output.Write("\r\n"u8);
        }
        output.Write("\r\n"u8);
    }

    // Cold: a route with request header modifiers edits the head as a dictionary.
    private void WriteModifiedRequestFields(PipeWriter output, HeaderModifierRuntime[] modifiers, bool addSource)
    {
        var headers = new HeaderDictionary();
        FillHeaders(headers, forwarding: true);
        if (addSource)
            headers[ProxyPipeline.SourceHeader] = _handler.SourceHeaderValue;
        HeaderModifierRuntime.Apply(modifiers, headers);
        WriteFields(output, headers);
    }

    private static void WriteFields(PipeWriter output, IHeaderDictionary headers)
    {
        foreach (var (name, values) in headers)
        {
            foreach (var value in values)
            {
                WriteLatin1(output, name);
                output.Write(": "u8);
                WriteLatin1(output, value ?? "");
                output.Write("\r\n"u8);
            }
        }
    }

    private void WriteResponseHead(MessageHead head, HeaderModifierRuntime[] modifiers, bool noBody, bool upgrade)
    {
        var output = _output;
        output.Write("HTTP/1.1 "u8);
        WriteNumber(output, head.Status);
        output.Write(" "u8);
        output.Write(head.Reason);
        output.Write("\r\n"u8);
        if (modifiers.Length == 0)
        {
            for (var i = 0; i < head.FieldCount; i++)
            {
                if (head.Fields[i].Drop)
                    continue;
                output.Write(head.Line(i));
                output.Write("\r\n"u8);
            }
        }
        else
        {
            WriteModifiedResponseFields(head, modifiers);
        }
        if (head.ContentLength >= 0)
        {
            output.Write("Content-Length: "u8);
            WriteNumber(output, head.ContentLength);
            output.Write("\r\n"u8);
        }
        else if (head.Chunked && !noBody && !_request.Http10)
        {
            output.Write("Transfer-Encoding: chunked\r\n"u8);
        }
        if (upgrade)
        {
            output.Write("Connection: Upgrade\r\nUpgrade: "u8);
            // A 101 without Upgrade switched to what was offered.
            output.Write(head.UpgradeField >= 0 ? head.Value(head.UpgradeField) : _request.Value(_request.UpgradeField));
            output.Write("\r\n"u8);
        }
        else if (_closeAfter)
        {
            output.Write("Connection: close\r\n"u8);
        }
        else if (_request.Http10)
        {
            output.Write("Connection: keep-alive\r\n"u8);
        }
        output.Write("\r\n"u8);
    }

    // Cold: response header modifiers.
    private void WriteModifiedResponseFields(MessageHead head, HeaderModifierRuntime[] modifiers)
    {
        var headers = _responseHeaders ??= new HeaderDictionary();
        headers.Clear();
        for (var i = 0; i < head.FieldCount; i++)
        {
            if (!head.Fields[i].Drop)
                headers.Append(Encoding.Latin1.GetString(head.Name(i)), Encoding.Latin1.GetString(head.Value(i)));
        }
        HeaderModifierRuntime.Apply(modifiers, headers);
        WriteFields(_output, headers);
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

    private static void WriteNumber(PipeWriter output, long value)
    {
        var span = output.GetSpan(20);
        value.TryFormat(span, out var written, default, System.Globalization.CultureInfo.InvariantCulture);
        output.Advance(written);
    }

    private static void WriteLatin1(PipeWriter output, string value)
    {
        var span = output.GetSpan(value.Length);
        output.Advance(Encoding.Latin1.GetBytes(value, span));
    }
}
