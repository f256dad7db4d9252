using Weft.Proxy.Memory;
using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using Weft.Proxy.Codecs.Http1;
using Weft.Proxy.Pipeline;

namespace Weft.Proxy.Upstream;

/// <summary>
/// One request/response on one upstream HTTP/1.1 connection; reused for every exchange the connection
/// carries. The request goes out (head, then the body copied alongside: an upstream may answer before
/// it read the whole body), the response head comes back (interim 1xx but 101 skipped), and the
/// pipeline gets the answer; <see cref="FinishAsync"/> pools the connection again or closes it.
/// </summary>
internal sealed class Http1Exchange(UpstreamConnection connection, UpstreamPools pools, Http1Limits limits) : UpstreamResponse, IAbortWatcher
{
    // What a head adds to the fields it relays: request line, Host, framing, Upgrade lines.
    private const int HeadOverhead = 200;

    private readonly HeaderList _scratch = new();
    private IDownstream? _down;
    private Task<CopyStatus>? _requestBody;
    private bool _upgrade;
    private bool _closeAfter;
    private volatile bool _clientAborted;

    /// <summary>The client gave up: a head still awaited is not awaited any more, and the upstream is reset when the exchange ends.</summary>
    public void OnClientAborted(IDownstream client)
    {
        // A client whose exchange ended (this connection may carry another client's request now) is
        // none of this exchange's business.
        if (!ReferenceEquals(Volatile.Read(ref _down), client))
            return;
        _clientAborted = true;
        connection.Input.CancelPendingRead();
    }

    public bool BodyStarted { get; private set; }

    public bool UpstreamBytesSeen { get; private set; }

    /// <summary>
    /// The attempt failed on a pooled connection the upstream had closed meanwhile, before any of the
    /// request could have reached an app: a new connection may carry it once more.
    /// </summary>
    public bool FailedStale(RequestContext ctx) =>
        ctx.Flag == ResponseFlag.UpstreamReset && connection.Reused && !BodyStarted && !UpstreamBytesSeen;

    public override ResponseHead Head => connection.Response;

    public override PipeReader? Body => connection.Response.HasBody ? connection.Body : null;

    public override UpstreamTransport? Upgraded => _upgrade ? connection.Transport : null;

    public override HeaderView? Trailers => null;

    public override string GrpcStatus => "";

    /// <summary>Writes the request and reads the response head; false with the context's flag set when there is no answer.</summary>
    [AsyncMethodBuilder(typeof(DeepPoolingBuilder<>))]
    public async ValueTask<bool> StartAsync(RequestContext ctx, IDownstream down, EndpointRuntime endpoint)
    {
        _requestBody = null;
        _upgrade = false;
        _clientAborted = false;
        Volatile.Write(ref _down, down);
        down.WatchAborted(this);
        BodyStarted = false;
        UpstreamBytesSeen = false;
        var output = connection.Output;
        WriteRequestHead(output, ctx, down, endpoint);
        if (down.RequestBody is { } body)
        {
            if (!await down.UpstreamReadyAsync().ConfigureAwait(false))
            {
                down.WatchAborted(null);
                Volatile.Write(ref _down, null);
                pools.Close(connection, reset: true);
                ctx.Flag = ResponseFlag.ClientAborted;
                return false;
            }
            BodyStarted = true;
            connection.RequestBody.Start(output, chunked: down.RequestBodyLength < 0);
            // Full duplex: an upstream may answer before it has read the whole body.
            _requestBody = CopyRequestBodyAsync(body);
        }
        else if (!await Http1BodyWriter.Flush(output).ConfigureAwait(false))
        {
            return await NoAnswerAsync(ctx).ConfigureAwait(false);
        }

        // The response head, read here rather than in a method of its own: this is where a request
        // waits for its upstream, and every async frame on that path is paid again at each resume.
        connection.BeginExchange(ctx.Deadline);
        var head = connection.Head;
        while (true)
        {
            ReadResult read;
            try
            {
                read = await connection.Input.ReadAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
            {
                ctx.Error = ex;
                return await NoAnswerAsync(ctx).ConfigureAwait(false);
            }
            var taken = TakeResponseHead(read);
            if (taken == HeadRead.Failed)
                return await NoAnswerAsync(ctx).ConfigureAwait(false);
            // An interim response (1xx but 101) is dropped: the final one follows.
            if (taken == HeadRead.Parsed && head.Status is not (>= 100 and < 200) or 101)
                break;
        }
        connection.HeadReceived();

        var upgrade = head.Status == 101;
        if (upgrade && down.UpgradeOffer is null)
            return await NoAnswerAsync(ctx).ConfigureAwait(false);       // a 101 nobody asked for: the upstream's fault
        var noBody = upgrade || head.Status is 204 or 304 || ctx.Method == "HEAD";
        var closeDelimited = !noBody && !head.Chunked && head.ContentLength < 0;
        connection.HeadView.Bind(head);
        var response = connection.Response;
        response.Status = head.Status;
        response.Headers = connection.HeadView;
        response.ContentLength = head.ContentLength;
        response.HasBody = !noBody;
        connection.Body.Start(connection.Input,
            noBody ? BodyFraming.None : head.ContentLength >= 0 ? BodyFraming.Length : head.Chunked ? BodyFraming.Chunked : BodyFraming.ToEnd,
            head.ContentLength);
        _upgrade = upgrade;
        _closeAfter = upgrade || closeDelimited || head.ConnectionClose || (head.Http10 && !head.ConnectionKeepAlive);
        return true;
    }

    [AsyncMethodBuilder(typeof(DeepPoolingBuilder))]
    public override async ValueTask FinishAsync(CopyStatus body)
    {
        var down = _down!;
        down.WatchAborted(null);
        var reusable = body == CopyStatus.Done && !_closeAfter && (!connection.Response.HasBody || connection.Body.IsComplete);
        if (_requestBody is { } requestBody)
        {
            if (!requestBody.IsCompleted)
            {
                // The upstream answered without reading the whole body: neither side can tell where
                // the next message starts.
                reusable = false;
                StopRequestBody(down);
            }
            if (await requestBody.ConfigureAwait(false) != CopyStatus.Done)
                reusable = false;
            _requestBody = null;
        }
        // Let go of the client before the connection goes back: once returned, another request may
        // start on this exchange at once, on another thread, and its client must not be cleared.
        Volatile.Write(ref _down, null);
        if (reusable)
            pools.Return(connection);
        else
            pools.Close(connection, reset: body != CopyStatus.Done && !_upgrade);
    }

    private void StopRequestBody(IDownstream down)
    {
        connection.Reset();
        down.RequestBody?.CancelPendingRead();
    }

    /// <summary>
    /// No usable response head: if the request body failed first, that is the cause (a malformed body is
    /// the client's fault, a broken one the client's leaving); a deadline that passed is a timeout; else
    /// the upstream reset. The connection is reset: the app may still be at work on the request.
    /// </summary>
    [AsyncMethodBuilder(typeof(DeepPoolingBuilder<>))]
    private async ValueTask<bool> NoAnswerAsync(RequestContext ctx)
    {
        var down = _down!;
        down.WatchAborted(null);
        connection.HeadReceived();
        var flag = _clientAborted ? ResponseFlag.ClientAborted : connection.TimedOut ? ResponseFlag.Timeout : ResponseFlag.UpstreamReset;
        if (_requestBody is { } requestBody)
        {
            if (!requestBody.IsCompleted)
                StopRequestBody(down);
            var status = await requestBody.ConfigureAwait(false);
            _requestBody = null;
            if (flag == ResponseFlag.UpstreamReset)
            {
                flag = status switch
                {
                    CopyStatus.Malformed => ResponseFlag.RequestBodyFailed,
                    CopyStatus.SourceFailed => ResponseFlag.ClientAborted,
                    _ => flag,
                };
            }
        }
        ctx.Flag = flag;
        Volatile.Write(ref _down, null);
        pools.Close(connection, reset: true);
        return false;
    }

    private async Task<CopyStatus> CopyRequestBodyAsync(PipeReader body)
    {
        var status = await BodyPump.CopyAsync(body, connection.RequestBody).ConfigureAwait(false);
        if (status == CopyStatus.Malformed)
            await connection.Output.CompleteAsync().ConfigureAwait(false);   // the app sees a truncated body, never a complete bad one
        else if (status == CopyStatus.Done && !await Http1BodyWriter.Flush(connection.Output).ConfigureAwait(false))
            status = CopyStatus.DestinationFailed;
        return status;
    }

    private void WriteRequestHead(PipeWriter output, RequestContext ctx, IDownstream down, EndpointRuntime endpoint)
    {
        var view = ctx.Headers;
        var raw = view as Http1HeaderView;
        int fields;
        if (raw is not null)
        {
            fields = raw.MaxHttp1Length;
        }
        else
        {
            _scratch.Clear();
            view.CopyTo(_scratch, toHttp2: false);
            fields = 0;
            for (var i = 0; i < _scratch.Length; i++)
                fields += _scratch[i].Key.Length + _scratch[i].Value.Length + 4;
        }
        var needsHost = raw is not null ? raw.Head.HostCount == 0 : view.Count("Host") == 0;
        var authority = needsHost ? endpoint.Authority : "";
        var upgrade = down.UpgradeOffer ?? "";
        var w = new HeadBuilder(output, fields + ctx.Method.Length + ctx.Path.Length + ctx.Query.Length + authority.Length + upgrade.Length + HeadOverhead);
        w.AddLatin1(ctx.Method);
        w.Add(" "u8);
        w.AddLatin1(ctx.Path);
        w.AddLatin1(ctx.Query);
        w.Add(" HTTP/1.1\r\n"u8);
        if (raw is not null)
        {
            raw.WriteTo(ref w);
        }
        else
        {
            for (var i = 0; i < _scratch.Length; i++)
            {
                w.AddLatin1(_scratch[i].Key);
                w.Add(": "u8);
                w.AddLatin1(_scratch[i].Value);
                w.Add("\r\n"u8);
            }
        }
        if (needsHost)
        {
            w.Add("Host: "u8);
            w.AddLatin1(authority);
            w.Add("\r\n"u8);
        }
        if (down.RequestBodyLength >= 0)
            w.AddLine("Content-Length: "u8, down.RequestBodyLength);
        else if (down.RequestBody is not null)
            w.Add("Transfer-Encoding: chunked\r\n"u8);
        if (upgrade.Length != 0)
        {
            w.Add("Connection: Upgrade\r\nUpgrade: "u8);
            w.AddLatin1(upgrade);
            w.Add("\r\n"u8);
        }
        w.Add("\r\n"u8);
        w.Commit();
    }

    private enum HeadRead { NeedMore, Parsed, Failed }

    /// <summary>Takes the response head out of what the upstream sent so far into the connection's head, if it is all there.</summary>
    private HeadRead TakeResponseHead(in ReadResult result)
    {
        var input = connection.Input;
        var buffer = result.Buffer;
        if (!buffer.IsEmpty)
            UpstreamBytesSeen = true;
        if (result.IsCanceled)
        {
            input.AdvanceTo(buffer.Start);
            return HeadRead.Failed;
        }
        var end = Http1Parser.FindHeadEnd(buffer, limits.MaxResponseHeaderBlockBytes, 0, isRequest: false, out var error);
        if (error != HeadError.None)
        {
            input.AdvanceTo(buffer.Start);
            return HeadRead.Failed;
        }
        if (end >= 0)
        {
            var head = connection.Head;
            head.Reset();
            var length = (int)end;
            head.EnsureCapacity(length);
            buffer.Slice(0, length).CopyTo(head.Buffer);
            head.Length = length;
            input.AdvanceTo(buffer.GetPosition(length));
            return Http1Parser.ParseResponse(head, limits.MaxHeaderCount * 2) == HeadError.None ? HeadRead.Parsed : HeadRead.Failed;
        }
        if (result.IsCompleted)
        {
            input.AdvanceTo(buffer.End);
            return HeadRead.Failed;
        }
        input.AdvanceTo(buffer.Start, buffer.End);
        return HeadRead.NeedMore;
    }
}
