using System.IO.Pipelines;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using Weft.Proxy.Pipeline;

namespace Weft.Proxy.Upstream;

/// <summary>
/// The cluster client's HTTP/2 side (grpc and http2 clusters): one attempt of a request on one endpoint
/// over the endpoint's SocketsHttpHandler (<see cref="Http2Pools"/>), which multiplexes it on the
/// endpoint's connections, opened through the <see cref="Connector"/>. Issue 11 replaces it with Weft's
/// own HTTP/2 codec; the pipeline does not change for that.
/// </summary>
internal sealed class Http2Client(Http2Pools pools, Heartbeat heartbeat)
{
    private static readonly Version Http20 = new(2, 0);

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<UpstreamResponse?> SendAsync(RequestContext ctx, IDownstream down, EndpointRuntime endpoint)
    {
        var cluster = ctx.Cluster!;
        var content = down.RequestBody is { } body ? new StreamingRequestContent(body, down.Aborted) : null;
        var request = new Http2Request
        {
            Method = HttpMethodFor(ctx.Method),
            Content = content,
            Version = Http20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            RequestUri = new Uri(endpoint.BaseUri + ctx.Path + ctx.Query, UriKind.Absolute),
            ConnectTimeout = cluster.ConnectTimeout,
        };
        ctx.Headers.CopyTo(new RequestHeaders(request, content), toHttp2: true);
        if (content is not null && down.RequestBodyLength >= 0)
            content.Headers.ContentLength = down.RequestBodyLength;
        // The request's deadline bounds everything up to the response head: waiting for a connection
        // or a stream, connecting (the handler's connect goes on for others; this request stops waiting).
        var stop = CancellationTokenSource.CreateLinkedTokenSource(down.Aborted);
        if (ctx.Deadline != 0)
            stop.CancelAfter(heartbeat.TimeLeft(ctx.Deadline));
        HttpResponseMessage response;
        var pool = pools.Enter(endpoint, ctx.Runtime);
        try
        {
            response = await pool.Invoker.SendAsync(request, stop.Token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            ctx.Flag = Classify(ex, down.Aborted, stop.Token, content);
            ctx.Error = ctx.Flag == ResponseFlag.RequestBodyFailed ? content!.ClientReadError ?? ex : ex;
            if (content is not null)
                await content.StopAsync().ConfigureAwait(false);
            request.Dispose();
            stop.Dispose();
            return null;
        }
        finally
        {
            pool.Exit();
        }
        // The deadline is for the response head; the body streams as long as both sides do.
        stop.CancelAfter(Timeout.InfiniteTimeSpan);
        return await Http2Response.CreateAsync(request, content, response, stop).ConfigureAwait(false);
    }

    private static ResponseFlag Classify(Exception ex, CancellationToken clientAborted, CancellationToken stop, StreamingRequestContent? content)
    {
        if (clientAborted.IsCancellationRequested)
            return ResponseFlag.ClientAborted;
        if (content is { ClientReadFailed: true })
            return ResponseFlag.RequestBodyFailed;
        for (var e = ex; e is not null; e = e.InnerException)
        {
            if (e is UpstreamConnectException)
                return ResponseFlag.ConnectFailed;
        }
        return stop.IsCancellationRequested ? ResponseFlag.Timeout : ResponseFlag.UpstreamReset;
    }

    private static HttpMethod HttpMethodFor(string method) => method switch
    {
        "GET" => HttpMethod.Get,
        "POST" => HttpMethod.Post,
        "PUT" => HttpMethod.Put,
        "DELETE" => HttpMethod.Delete,
        "HEAD" => HttpMethod.Head,
        "PATCH" => HttpMethod.Patch,
        "OPTIONS" => HttpMethod.Options,
        _ => HttpMethod.Parse(method),
    };

    /// <summary>Request fields into HttpClient's message: content fields where the message refuses them.</summary>
    private sealed class RequestHeaders(HttpRequestMessage request, HttpContent? content) : IHeaderSink
    {
        public void Add(string name, string value)
        {
            if (!request.Headers.TryAddWithoutValidation(name, value))
                content?.Headers.TryAddWithoutValidation(name, value);
        }
    }
}

/// <summary>An answer from HttpClient: head and body streamed, trailers (gRPC's grpc-status) read after the body.</summary>
internal sealed class Http2Response : UpstreamResponse
{
    private readonly HttpRequestMessage _request;
    private readonly StreamingRequestContent? _content;
    private readonly HttpResponseMessage _response;
    private readonly CancellationTokenSource _stop;
    private readonly ResponseHead _head = new();
    private readonly HeaderList _headers = new();
    private PipeReader? _body;
    private HeaderList? _trailers;
    private string _grpcStatus = "";

    private Http2Response(HttpRequestMessage request, StreamingRequestContent? content, HttpResponseMessage response, CancellationTokenSource stop)
    {
        _request = request;
        _content = content;
        _response = response;
        _stop = stop;
    }

    public static async ValueTask<UpstreamResponse> CreateAsync(HttpRequestMessage request, StreamingRequestContent? content,
        HttpResponseMessage response, CancellationTokenSource stop)
    {
        var answer = new Http2Response(request, content, response, stop);
        answer.ReadHead();
        try
        {
            var stream = await response.Content.ReadAsStreamAsync(stop.Token).ConfigureAwait(false);
            answer._body = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: StreamingRequestContent.BufferSize, leaveOpen: true));
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or HttpRequestException)
        {
            answer._body = PipeReader.Create(new FailedStream(ex));
        }
        return answer;
    }

    private void ReadHead()
    {
        _head.Status = (int)_response.StatusCode;
        _head.Headers = _headers;
        foreach (var header in _response.Headers.NonValidated)
        {
            foreach (var value in header.Value)
            {
                _headers.Add(header.Key, value);
                if (string.Equals(header.Key, "grpc-status", StringComparison.OrdinalIgnoreCase))
                    _grpcStatus = value;
            }
        }
        foreach (var header in _response.Content.Headers.NonValidated)
        {
            if (HeaderList.IsFraming(header.Key))
                continue;
            foreach (var value in header.Value)
                _headers.Add(header.Key, value);
        }
        _head.ContentLength = _response.Content.Headers.ContentLength ?? -1;
        _head.HasBody = _head.Status is not (204 or 304) && _request.Method != HttpMethod.Head;
    }

    public override ResponseHead Head => _head;

    public override PipeReader? Body => _head.HasBody ? _body : null;

    public override IDuplexPipe? Upgraded => null;

    public override HeaderView? Trailers
    {
        get
        {
            if (_trailers is not null)
                return _trailers;
            var trailers = _response.TrailingHeaders.NonValidated;
            if (trailers.Count == 0)
                return null;
            _trailers = new HeaderList();
            foreach (var header in trailers)
            {
                foreach (var value in header.Value)
                {
                    _trailers.Add(header.Key, value);
                    if (string.Equals(header.Key, "grpc-status", StringComparison.OrdinalIgnoreCase))
                        _grpcStatus = value;
                }
            }
            return _trailers;
        }
    }

    public override string GrpcStatus
    {
        get
        {
            _ = Trailers;
            return _grpcStatus;
        }
    }

    public override async ValueTask FinishAsync(CopyStatus body)
    {
        if (body != CopyStatus.Done)
            await _stop.CancelAsync().ConfigureAwait(false);   // resets the stream: the upstream stops its work
        // No read of the client's body may outlive the request (StreamingRequestContent.StopAsync).
        if (_content is not null)
            await _content.StopAsync().ConfigureAwait(false);
        if (_body is not null)
            await _body.CompleteAsync().ConfigureAwait(false);
        _response.Dispose();
        _request.Dispose();
        _stop.Dispose();
    }

    /// <summary>A body whose stream could not even be opened: reading it fails, as the exchange did.</summary>
    private sealed class FailedStream(Exception error) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new IOException("the upstream's body failed", error);
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
