using Weft.Proxy.Memory;
using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.WebUtilities;
using Weft.Proxy.Listeners;
using Weft.Proxy.Pipeline;

namespace Weft.Proxy.Codecs.Http1;

/// <summary>
/// One client connection of the lean HTTP/1.1 codec: read a head (limits, timeouts), parse it strictly,
/// hand it to the pipeline as a request context, write the answer the pipeline gives, repeat while
/// keep-alive holds. It is the request's <see cref="IDownstream"/> too. Per request it reuses its
/// buffers, its head, its context, its body reader and writer: a repeated request allocates next to
/// nothing here.
/// </summary>
internal sealed class Http1Connection : IDownstream, IHeartbeatWatch
{
    private readonly RequestTargetCache _target = new();
    private enum Next { Continue, Close }

    // Upper bound of what a head adds to the fields it relays: status line, framing, Connection/Upgrade lines.
    private const int HeadOverhead = 200;

    private readonly Http1Codec _codec;
    private readonly ConnectionContext _connection;
    private readonly ListenerBinding _binding;
    private readonly PipeReader _input;
    private readonly PipeWriter _output;
    private readonly Http1Limits _limits;
    private readonly MessageHead _request = new();
    private readonly Http1HeaderView _headers = new();
    private readonly Http1BodyReader _body;
    private readonly Http1BodyWriter _responseBody;
    private readonly RequestContext _ctx = new();
    private readonly HeaderList _scratch = new();

    // Deadline (heartbeat timestamp) of the current idle or head read; 0 = none.
    private long _deadline;
    private volatile bool _timedOut;
    private volatile bool _closeRequested;
    private volatile bool _idle;

    // The target's strings, cached: a repeated target costs no allocation.
    private string? _upgradeOffer;

    // Per request.
    private bool _responseStarted;
    private bool _closeAfter;
    private bool _upgraded;
    private bool _hasBody;

    public Http1Connection(Http1Codec codec, ConnectionContext connection, ListenerBinding binding)
    {
        _codec = codec;
        _connection = connection;
        _binding = binding;
        _input = connection.Transport.Input;
        _output = connection.Transport.Output;
        _limits = codec.Limits;
        _body = new Http1BodyReader(_limits, codec.Heartbeat);
        _responseBody = new Http1BodyWriter(codec.Heartbeat);
        _ctx.Headers = _headers;
    }

    public async Task RunAsync()
    {
        var lifetime = _connection.Features.Get<IConnectionLifetimeNotificationFeature>();
        var registration = lifetime is null
            ? default
            : lifetime.ConnectionClosedRequested.Register(static s => ((Http1Connection)s!).OnCloseRequested(), this);
        _codec.Heartbeat.Add(this);
        using var closed = _connection.ConnectionClosed.UnsafeRegister(static s => ((Http1Connection)s!).OnConnectionClosed(), this);
        try
        {
            while (await ServeOneAsync().ConfigureAwait(false) == Next.Continue)
            {
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
        {
            // The client went away mid-request; the socket is closed below.
        }
        finally
        {
            _codec.Heartbeat.Remove(this);
            registration.Dispose();
        }
        if (_upgraded)
            return;                                   // the tunnel completed both sides already
        try
        {
            await _output.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException)
        {
            // Already closed.
        }
    }

    private void OnCloseRequested()
    {
        _closeRequested = true;
        if (_idle)
            _input.CancelPendingRead();
    }

    public void OnHeartbeat(long now)
    {
        var deadline = Volatile.Read(ref _deadline);
        if (deadline != 0 && now > deadline)
        {
            _timedOut = true;
            _input.CancelPendingRead();
            return;
        }
        CheckDataRates(now);
    }

    private void SetDeadline(TimeSpan timeout) => Volatile.Write(ref _deadline, _codec.Heartbeat.DeadlineAfter(timeout));

    private void ClearDeadline() => Volatile.Write(ref _deadline, 0);

    private bool Draining => _closeRequested || _codec.State.IsDraining;

    [AsyncMethodBuilder(typeof(DeepPoolingBuilder<>))]
    private async ValueTask<Next> ServeOneAsync()
    {
        _request.Reset();
        _idle = true;
        var limits = _codec.State.Current.Limits;
        SetDeadline(limits.HttpIdleTimeout);
        // Draining alone does not close: a request may already be on its way on this connection, and it
        // is answered with Connection: close. Kestrel's close request (listener stop) ends idle ones.
        if (_closeRequested)
            return Next.Close;

        ReadResult result;
        long headEnd;
        while (true)
        {
            result = await _input.ReadAsync().ConfigureAwait(false);
            var buffer = result.Buffer;
            if (result.IsCanceled)
            {
                _input.AdvanceTo(buffer.Start);
                if (_timedOut && !_idle)
                    await RejectAsync(408, "request_timeout", "the request head did not arrive in time\n").ConfigureAwait(false);
                return Next.Close;
            }
            if (_idle && !buffer.IsEmpty)
            {
                _idle = false;
                SetDeadline(limits.RequestHeadersTimeout);
            }
            headEnd = Http1Parser.FindHeadEnd(buffer, _limits.MaxHeaderBlockBytes, _limits.MaxRequestTargetBytes, isRequest: true, out var limitError);
            if (limitError != HeadError.None)
            {
                _input.AdvanceTo(buffer.Start);
                await RejectAsync(limitError).ConfigureAwait(false);
                return Next.Close;
            }
            if (headEnd >= 0)
                break;
            if (result.IsCompleted)
            {
                _input.AdvanceTo(buffer.End);
                return Next.Close;
            }
            _input.AdvanceTo(buffer.Start, buffer.End);
        }
        ClearDeadline();
        var started = Stopwatch.GetTimestamp();

        var received = result.Buffer;
        var length = (int)headEnd;
        _request.EnsureCapacity(length);
        received.Slice(0, length).CopyTo(_request.Buffer);
        _request.Length = length;
        var error = Http1Parser.ParseRequest(_request, _limits);
        if (error == HeadError.None && _request.Chunked && !_request.ExpectContinue
            && !ChunkedDecoder.Probe(received.Slice(length), _limits.MaxChunkLineBytes, _limits.MaxHeaderBlockBytes))
        {
            error = HeadError.BadRequest;
        }
        _input.AdvanceTo(received.GetPosition(length));
        if (error != HeadError.None)
        {
            await RejectAsync(error).ConfigureAwait(false);
            return Next.Close;
        }
        // The request, then its end, here rather than in methods of their own (fewer async frames on the path every request takes).
        if (PrepareRequest(started))
        {
            await _codec.Pipeline.ServeAsync(_ctx, this).ConfigureAwait(false);
        }
        else
        {
            _closeAfter = true;
            await RequestPipeline.RefuseUnboundAsync(this).ConfigureAwait(false);
        }
        _request.Shrink();
        if (_upgraded)
            return Next.Close;
        // The answer's end leaves now (the request was counted).
        if (!await Http1BodyWriter.Flush(_output).ConfigureAwait(false))
            return Next.Close;
        // A request body left unread (an early answer, a refused request) leaves no way to find the next request.
        if (_hasBody && !_body.IsComplete)
            return Next.Close;
        return _closeAfter || Draining ? Next.Close : Next.Continue;
    }

    /// <summary>The request's context, filled from its head; false when its listener is gone.</summary>
    private bool PrepareRequest(long started)
    {
        var ctx = _ctx;
        ctx.Reset();
        var runtime = _codec.State.Current;
        ctx.Runtime = runtime;
        ctx.Started = started;
        _responseStarted = false;
        _upgraded = false;
        _headers.Bind(_request);
        ctx.Method = MethodNames.Of(_request.Method);
        // After a CONNECT (refused: the pipeline's step 0) a client may send what it meant for a tunnel.
        _closeAfter = _request.ConnectionClose || (_request.Http10 && !_request.ConnectionKeepAlive) || ctx.Method == "CONNECT";
        ctx.IsGrpc = _request.ContentTypeGrpc;
        ctx.Protocol = ctx.IsGrpc ? "grpc" : "http";
        _hasBody = _request.HasBody;
        _upgradeOffer = _request.IsUpgrade ? Encoding.Latin1.GetString(_request.Value(_request.UpgradeField)).Trim() : null;
        _body.Start(_input, _request.Chunked ? BodyFraming.Chunked : _request.ContentLength > 0 ? BodyFraming.Length : BodyFraming.None,
            _request.ContentLength);
        if (_binding.Resolve(runtime) is not { } listener)
            return false;
        ctx.Listener = listener;
        ctx.PeerIdentity = _binding.Peer;
        if (!_target.Resolve(ctx, _request.Target, runtime.Limits.KeepAmbiguousPaths))
            ctx.Flag = ResponseFlag.BadPath;
        return true;
    }

    // ---------------------------------------------------------------- IDownstream

    public PipeReader? RequestBody => _hasBody ? _body : null;

    public long RequestBodyLength => _request.ContentLength;

    public string? UpgradeOffer => _upgradeOffer;

    public CancellationToken Aborted => _connection.ConnectionClosed;

    private IAbortWatcher? _abortWatcher;

    // One registration per connection (made in RunAsync), not one per request: it tells whoever waits now.
    public void WatchAborted(IAbortWatcher? watcher) => Volatile.Write(ref _abortWatcher, watcher);

    private void OnConnectionClosed() => Volatile.Read(ref _abortWatcher)?.OnClientAborted(this);

    public bool ResponseStarted => _responseStarted;

    public IBodySink ResponseBody => _responseBody;

    /// <summary>
    /// The proxy answers 100 itself once an upstream is ready (what Kestrel does when an app starts
    /// reading); upstreams never see Expect. Never to an HTTP/1.0 client, which knows no 1xx.
    /// </summary>
    [AsyncMethodBuilder(typeof(DeepPoolingBuilder<>))]
    public async ValueTask<bool> UpstreamReadyAsync()
    {
        if (!_request.ExpectContinue || !_hasBody || _request.Http10)
            return true;
        _output.Write("HTTP/1.1 100 Continue\r\n\r\n"u8);
        return await Http1BodyWriter.Flush(_output).ConfigureAwait(false);
    }

    public void WriteResponseHead(ResponseHead head)
    {
        _responseStarted = true;
        var chunked = false;
        if (head.HasBody && head.ContentLength < 0)
        {
            // Length unknown: chunked to an HTTP/1.1 client, which then still sees where the body ends;
            // an HTTP/1.0 one reads until the connection closes.
            if (_request.Http10)
                _closeAfter = true;
            else
                chunked = true;
        }
        if (Draining)
            _closeAfter = true;
        var raw = head.Headers as Http1HeaderView;       // one type test per head
        var fields = FieldsLength(head.Headers, raw);
        var w = new HeadBuilder(_output, fields + HeadOverhead);
        WriteStatusLine(ref w, head.Status, raw);
        WriteFields(ref w, head.Headers, raw);
        if (head.ContentLength >= 0)
            w.AddLine("Content-Length: "u8, head.ContentLength);
        else if (chunked)
            w.Add("Transfer-Encoding: chunked\r\n"u8);
        if (_closeAfter)
            w.Add("Connection: close\r\n"u8);
        else if (_request.Http10)
            w.Add("Connection: keep-alive\r\n"u8);
        w.Add("\r\n"u8);
        w.Commit();
        _responseBody.Start(_output, chunked);
    }

    public void WriteTrailers(HeaderView trailers)
    {
        // HTTP/1.1 trailers are dropped: clients of this codec rarely ask for them (TE: trailers).
    }

    public async ValueTask<IDuplexPipe?> UpgradeAsync(ResponseHead head)
    {
        _responseStarted = true;
        _closeAfter = true;
        var raw = head.Headers as Http1HeaderView;
        // A 101 without Upgrade switched to what was offered.
        var protocol = head.Headers.Get("Upgrade") is { Length: > 0 } agreed ? agreed : UpgradeOffer ?? "";
        var w = new HeadBuilder(_output, FieldsLength(head.Headers, raw) + protocol.Length + HeadOverhead);
        WriteStatusLine(ref w, 101, raw);
        WriteFields(ref w, head.Headers, raw);
        w.Add("Connection: Upgrade\r\nUpgrade: "u8);
        w.AddLatin1(protocol);
        w.Add("\r\n\r\n"u8);
        w.Commit();
        if (!await Http1BodyWriter.Flush(_output).ConfigureAwait(false))
            return null;
        // A WebSocket is no longer HTTP: neither HTTP timeout applies to it; the splice's idle timeout does.
        ClearDeadline();
        _upgraded = true;
        return _connection.Transport;
    }

    public ValueTask WriteLocalReplyAsync(int status, string reason, string message)
    {
        // The request body may be unread: after a refusal the connection cannot be reused.
        if (_hasBody && !_body.IsComplete)
            _closeAfter = true;
        return WriteReplyAsync(status, reason, message, headRequest: _ctx.Method == "HEAD");
    }

    public void Reset()
    {
        _closeAfter = true;
        ClientReset.Abort(_connection);
    }

    // ---------------------------------------------------------------- heads

    /// <summary>Upper bound of the field lines; a head from another codec is first listed into the scratch list.</summary>
    private int FieldsLength(HeaderView headers, Http1HeaderView? raw)
    {
        if (raw is not null)
            return raw.MaxHttp1Length + raw.Head.ReasonLength;
        _scratch.Clear();
        headers.CopyTo(_scratch, toHttp2: false);
        var length = 0;
        for (var i = 0; i < _scratch.Length; i++)
            length += _scratch[i].Key.Length + _scratch[i].Value.Length + 4;
        return length;
    }

    private void WriteStatusLine(ref HeadBuilder w, int status, Http1HeaderView? raw)
    {
        w.Add("HTTP/1.1 "u8);
        w.AddNumber(status);
        w.Add(" "u8);
        if (raw is not null && raw.Head.Status == status)
            w.Add(raw.Head.Reason);
        else
            w.AddLatin1(ReasonPhrases.GetReasonPhrase(status));
        w.Add("\r\n"u8);
    }

    private void WriteFields(ref HeadBuilder w, HeaderView headers, Http1HeaderView? raw)
    {
        if (raw is not null)
        {
            raw.WriteTo(ref w);
            return;
        }
        for (var i = 0; i < _scratch.Length; i++)
        {
            w.AddLatin1(_scratch[i].Key);
            w.Add(": "u8);
            w.AddLatin1(_scratch[i].Value);
            w.Add("\r\n"u8);
        }
    }

    private ValueTask RejectAsync(HeadError error) => error switch
    {
        HeadError.HeadersTooLarge => RejectAsync(431, "headers_too_large", "the request head is over the limit\n"),
        HeadError.UriTooLong => RejectAsync(414, "uri_too_long", "the request target is over the limit\n"),
        _ => RejectAsync(400, "malformed_request", "the request is not valid HTTP/1.1\n"),
    };

    /// <summary>A refused request: status, one line, Connection: close. Nothing went upstream.</summary>
    private async ValueTask RejectAsync(int status, string reason, string message)
    {
        _closeAfter = true;
        await WriteReplyAsync(status, reason, message, headRequest: false).ConfigureAwait(false);
        await Http1BodyWriter.Flush(_output).ConfigureAwait(false);
    }

    /// <summary>
    /// An answer of the proxy's own: status, content type, x-weft-reason, the one-line body (its length
    /// only, for HEAD: a body there would be read as the next response). Flushed with the connection's
    /// next flush.
    /// </summary>
    private ValueTask WriteReplyAsync(int status, string reason, string message, bool headRequest)
    {
        _responseStarted = true;
        if (Draining)
            _closeAfter = true;
        var output = _output;
        var w = new HeadBuilder(output, 200 + reason.Length + Encoding.UTF8.GetMaxByteCount(message.Length));
        w.Add("HTTP/1.1 "u8);
        w.AddNumber(status);
        w.Add(" "u8);
        w.AddLatin1(ReasonPhrases.GetReasonPhrase(status));
        w.Add("\r\nContent-Type: text/plain; charset=utf-8\r\n"u8);
        w.Add("x-weft-reason: "u8);
        w.AddLatin1(reason);
        w.Add("\r\n"u8);
        w.AddLine("Content-Length: "u8, Encoding.UTF8.GetByteCount(message));
        w.Add(_closeAfter ? "Connection: close\r\n\r\n"u8 : "\r\n"u8);
        if (!headRequest)
            w.AddUtf8(message);
        w.Commit();
        return ValueTask.CompletedTask;
    }

    // ---------------------------------------------------------------- minimum data rates

    private void CheckDataRates(long now)
    {
        var limits = _codec.State.Current.Limits;
        var rate = limits.MinBodyBytesPerSecond;
        if (rate <= 0)
            return;
        var grace = _codec.Heartbeat.Ticks(limits.MinBodyRateGrace);
        var frequency = (double)_codec.Heartbeat.Time.TimestampFrequency;
        // A slow upload (gRPC streams are exempt: a call may rightly stay quiet for long).
        if (_hasBody && !_upgraded && !_ctx.IsGrpc && _body.TooSlow(now, grace, rate, frequency))
        {
            TooSlow();
            return;
        }
        // A slow reader: only while a flush to it is waiting, and counted over that waiting.
        if (_responseBody.TooSlow(now, grace, rate, frequency))
            TooSlow();
    }

    /// <summary>The client moves a body slower than the minimum: its connection is reset (the upstream's exchange is reset with it).</summary>
    private void TooSlow()
    {
        _closeAfter = true;
        ClientReset.Abort(_connection);
    }
}
