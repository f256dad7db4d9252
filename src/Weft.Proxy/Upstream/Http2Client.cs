using Weft.Proxy.Memory;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using Weft.Proxy.Codecs.Http2;
using Weft.Proxy.Codecs.Http2.Hpack;
using Weft.Proxy.Pipeline;

namespace Weft.Proxy.Upstream;

/// <summary>
/// The cluster client's HTTP/2 side (grpc and http2 clusters): one attempt of a request on one endpoint,
/// as a stream on one of the endpoint's connections (<see cref="Http2Pools"/>). A stream the upstream
/// never processed (REFUSED_STREAM, or above its GOAWAY's last stream) goes once more on another
/// connection when none of the request's body was read yet: nothing of it reached an app.
/// </summary>
internal sealed class Http2Client(Http2Pools pools, Heartbeat heartbeat)
{
    [AsyncMethodBuilder(typeof(DeepPoolingBuilder<>))]
    public async ValueTask<UpstreamResponse?> SendAsync(RequestContext ctx, IDownstream down, EndpointRuntime endpoint)
    {
        var cluster = ctx.Cluster!;
        var pool = pools.For(endpoint, ctx.Runtime);
        byte[]? replay = null;
        Http2ClientConnection? refusedBy = null;
        for (var attempt = 0; ; attempt++)
        {
            Http2ClientConnection connection;
            try
            {
                var acquiring = pool.AcquireAsync(cluster.ConnectTimeout, down.Aborted, refusedBy);
                if (acquiring.IsCompletedSuccessfully)
                {
                    connection = acquiring.Result;
                }
                else
                {
                    // The connect is shared and runs to its own timeout; this request waits only until its deadline.
                    var left = ctx.Deadline == 0 ? Timeout.InfiniteTimeSpan : heartbeat.TimeLeft(ctx.Deadline);
                    if (left <= TimeSpan.Zero && left != Timeout.InfiniteTimeSpan)
                    {
                        ctx.Flag = ResponseFlag.Timeout;
                        return null;
                    }
                    connection = await acquiring.AsTask().WaitAsync(left).ConfigureAwait(false);
                }
            }
            catch (TimeoutException ex)
            {
                ctx.Flag = ResponseFlag.Timeout;
                ctx.Error = ex;
                return null;
            }
            catch (UpstreamConnectException ex)
            {
                ctx.Flag = ResponseFlag.ConnectFailed;
                ctx.Error = ex;
                return null;
            }
            catch (OperationCanceledException ex)
            {
                ctx.Flag = ResponseFlag.ClientAborted;
                ctx.Error = ex;
                return null;
            }
            var stream = connection.RentStream();
            var exchange = stream.Exchange as Http2Exchange ?? new Http2Exchange(stream);
            stream.Exchange = exchange;
            var outcome = await exchange.StartAsync(ctx, down, replay).ConfigureAwait(false);
            if (outcome == HeadOutcome.Arrived)
                return exchange;
            if (outcome == HeadOutcome.Refused)
            {
                // Nothing of it reached an app: once more on another stream, with what it sent of its body.
                var again = attempt == 0 && exchange.TryTakeReplay(out replay);
                exchange.ReleaseRefused();
                if (again)
                {
                    refusedBy = connection;          // another connection: this one's upstream said no
                    continue;
                }
            }
            ctx.Flag = outcome switch
            {
                HeadOutcome.TimedOut => ResponseFlag.Timeout,
                HeadOutcome.ClientAborted => ResponseFlag.ClientAborted,
                _ => exchange.BodyFlag ?? ResponseFlag.UpstreamReset,
            };
            return null;
        }
    }
}

/// <summary>One request on one upstream HTTP/2 stream, and its answer as the pipeline reads it.</summary>
internal sealed class Http2Exchange(Http2ClientStream stream) : UpstreamResponse, IAbortWatcher
{
    private readonly HeaderList _scratch = new();
    private IDownstream? _down;
    private Task<CopyStatus>? _requestBody;
    private bool _hasBody;

    /// <summary>Request body bytes a refused stream keeps to send again (a gRPC call's messages, a form): larger bodies are not sent twice.</summary>
    public const int ReplayLimit = 16 * 1024;

    /// <summary>Whether any of the request body was read from the client.</summary>
    public bool BodyRead { get; private set; }

    /// <summary>
    /// For a refused stream: what of the body it sent, to send again (null: nothing was read); false when
    /// more was read than <see cref="ReplayLimit"/> keeps.
    /// </summary>
    public bool TryTakeReplay(out byte[]? replay)
    {
        replay = null;
        if (!BodyRead)
            return true;
        if (!stream.Output.TryTakeRecord(out var written))
            return false;
        replay = written;
        return true;
    }

    /// <summary>A refused stream goes back to its connection once its body was taken for the next attempt.</summary>
    public void ReleaseRefused() => stream.Release();

    /// <summary>Why the attempt failed, when the request body's copy is to blame.</summary>
    public ResponseFlag? BodyFlag { get; private set; }

    [AsyncMethodBuilder(typeof(DeepPoolingBuilder<>))]
    public async ValueTask<HeadOutcome> StartAsync(RequestContext ctx, IDownstream down, byte[]? replay)
    {
        _down = down;
        _requestBody = null;
        BodyRead = false;
        BodyFlag = null;
        var body = down.RequestBody;
        var fields = HeaderBlocks.Prepare(ctx.Headers, _scratch);
        var block = new RequestBlock(ctx.Method, ctx.Path, ctx.Query, fields, _scratch);
        stream.Send(ref block, endStream: body is null, ctx.Deadline);
        down.WatchAborted(this);
        if (body is not null)
        {
            if (replay is null)
                stream.Output.RecordWrites(ReplayLimit);
            else
            {
                BodyRead = replay.Length != 0;
                stream.Output.Write(replay);
            }
            _requestBody = CopyRequestBodyAsync(body);
        }
        var outcome = await stream.HeadAsync().ConfigureAwait(false);
        if (outcome == HeadOutcome.Arrived)
        {
            if (body is not null && replay is null)
                stream.Output.StopRecording();
            var head = stream.Response;
            _hasBody = !stream.EndedWithHead && head.Status is not (204 or 304) && ctx.Method != "HEAD";
            head.HasBody = _hasBody;
            return outcome;
        }
        down.WatchAborted(null);
        if (_requestBody is { } copy)
        {
            if (!copy.IsCompleted)
                down.RequestBody?.CancelPendingRead();
            var status = await copy.ConfigureAwait(false);
            if (outcome == HeadOutcome.Reset)
            {
                BodyFlag = status switch
                {
                    CopyStatus.Malformed => ResponseFlag.RequestBodyFailed,
                    CopyStatus.SourceFailed => ResponseFlag.ClientAborted,
                    _ => null,
                };
            }
            _requestBody = null;
        }
        if (!stream.Closed)
            stream.Connection.ResetStream(stream, Http2Error.Cancel);
        stream.Input.Complete();
        _down = null;
        if (outcome != HeadOutcome.Refused)
            stream.Release();               // a refused one is released by the caller, after it took its body
        return outcome;
    }

    private async Task<CopyStatus> CopyRequestBodyAsync(PipeReader body)
    {
        var status = await BodyPump.CopyAsync(new ReadCounter(body, this), stream.Output, flushWhenIdle: false).ConfigureAwait(false);
        if (status == CopyStatus.Done)
        {
            var none = new HeaderBlocks.None();
            stream.Output.End(ref none, hasTrailers: false);
            stream.Connection.Output.Flush();
        }
        else if (!stream.Closed)
        {
            // The app must never take a truncated body for whole.
            stream.Connection.ResetStream(stream, Http2Error.Cancel);
        }
        return status;
    }

    public void OnClientAborted(IDownstream client)
    {
        if (!ReferenceEquals(Volatile.Read(ref _down), client))
            return;
        stream.ClientAborted();
    }

    public override ResponseHead Head => stream.Response;

    public override PipeReader? Body => _hasBody ? stream.Input : null;

    public override IDuplexPipe? Upgraded => null;

    public override HeaderView? Trailers => stream.Trailers;

    public override string GrpcStatus => stream.GrpcStatus;

    [AsyncMethodBuilder(typeof(DeepPoolingBuilder))]
    public override async ValueTask FinishAsync(CopyStatus body)
    {
        var down = _down!;
        down.WatchAborted(null);
        if (body != CopyStatus.Done && !stream.Closed)
            stream.Connection.ResetStream(stream, Http2Error.Cancel);
        if (_requestBody is { } copy)
        {
            if (!copy.IsCompleted)
            {
                // The upstream answered without reading the whole body: the copy stops, the stream is reset.
                if (!stream.Closed)
                    stream.Connection.ResetStream(stream, Http2Error.Cancel);
                down.RequestBody?.CancelPendingRead();
            }
            await copy.ConfigureAwait(false);
            _requestBody = null;
        }
        stream.Input.Complete();
        _down = null;
        stream.Release();
    }

    /// <summary>Marks the body as read once the copy took bytes from it.</summary>
    private sealed class ReadCounter(PipeReader inner, Http2Exchange exchange) : PipeReader
    {
        public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

        public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
        {
            exchange.BodyRead = true;
            inner.AdvanceTo(consumed, examined);
        }

        public override void CancelPendingRead() => inner.CancelPendingRead();

        public override void Complete(Exception? exception = null) => inner.Complete(exception);

        public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default) => inner.ReadAsync(cancellationToken);

        public override bool TryRead(out ReadResult result) => inner.TryRead(out result);
    }

    /// <summary>The request head: pseudo-headers, then the fields (the host field became :authority).</summary>
    private readonly struct RequestBlock(string method, string path, string query, FieldList? fields, HeaderList scratch) : IHeaderBlock
    {
        public int MaxLength => 64 + method.Length + path.Length + query.Length + HeaderBlocks.MaxLength(fields, scratch, skipHost: false);

        public int Encode(Span<byte> destination)
        {
            var at = method switch
            {
                "GET" => HpackEncoder.WriteIndexed(2, destination),
                "POST" => HpackEncoder.WriteIndexed(3, destination),
                _ => HpackEncoder.WriteLiteralWithNameIndex(2, method, destination),
            };
            at += HpackEncoder.WriteIndexed(6, destination[at..]);                 // :scheme http
            at += query.Length == 0 && path == "/"
                ? HpackEncoder.WriteIndexed(4, destination[at..])
                : HpackEncoder.WriteLiteralWithNameIndex(4, query.Length == 0 ? path : path + query, destination[at..]);
            if (fields is not null)
            {
                if (fields.TryGetValue("host"u8, out var authority))
                    at += HpackEncoder.WriteLiteralWithNameIndex(1, authority, destination[at..]);
            }
            else
            {
                for (var i = 0; i < scratch.Length; i++)
                {
                    if (string.Equals(scratch[i].Key, "host", StringComparison.OrdinalIgnoreCase))
                    {
                        at += HpackEncoder.WriteLiteralWithNameIndex(1, scratch[i].Value, destination[at..]);
                        break;
                    }
                }
            }
            at += HeaderBlocks.Encode(fields, scratch, skipHost: true, destination[at..]);
            return at;
        }
    }
}
