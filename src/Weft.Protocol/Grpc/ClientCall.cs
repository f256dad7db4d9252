using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Http.Headers;
using Google.Protobuf;

namespace Weft.Protocol.Grpc;

/// <summary>
/// One call on the client: an HTTP/2 request whose body is <see cref="RequestContent"/> and whose response
/// body is read frame by frame. The first status wins (trailers, cancellation, deadline or a transport
/// failure) and every later read or write reports that status.
/// </summary>
internal sealed class ClientCall<TRequest, TResponse> : IStreamingCall<TRequest, TResponse>, IClientMessageWriter<TRequest>, IMessageReader<TResponse>
    where TRequest : class, IMessage<TRequest> where TResponse : class, IMessage<TResponse>
{
    private static readonly ProductInfoHeaderValue UserAgent = new("weft-grpc", "1.0");
    private static readonly TransferCodingWithQualityHeaderValue Trailers = new("trailers");
    // Timers cannot count further; a deadline this far away is only sent to the server, never fired here.
    private static readonly TimeSpan MaxTimer = TimeSpan.FromDays(30);

    private readonly GrpcChannel _channel;
    private readonly Method<TRequest, TResponse> _method;
    private readonly CancellationTokenSource _cts = new();
    private readonly TaskCompletionSource<Status> _status = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly RequestContent _content;
    private readonly Task<PipeReader?> _responseReady;
    private CancellationTokenRegistration _userCancellation;
    private ITimer? _deadlineTimer;
    private HttpResponseMessage? _response;
    private PipeReader? _reader;
    private int _cancelCode; // StatusCode of the first local cancellation (Cancelled or DeadlineExceeded), 0 while none
    private bool _requestCompleted;

    public ClientCall(GrpcChannel channel, Method<TRequest, TResponse> method, CallOptions options, TRequest? singleRequest)
    {
        _channel = channel;
        _method = method;
        _content = new RequestContent(singleRequest);
        _requestCompleted = singleRequest is not null;

        TimeSpan? timeout = null;
        if (options.Deadline is { } deadline)
        {
            timeout = deadline - channel.TimeProvider.GetUtcNow();
            if (timeout <= TimeSpan.Zero)
            {
                _responseReady = Task.FromResult<PipeReader?>(null);
                Complete(DeadlineStatus);
                return;
            }
            if (timeout < MaxTimer)
            {
                _deadlineTimer = channel.TimeProvider.CreateTimer(
                    static s => ((ClientCall<TRequest, TResponse>)s!).CancelWith(DeadlineStatus), this, timeout.Value, Timeout.InfiniteTimeSpan);
            }
        }
        if (options.CancellationToken.CanBeCanceled)
        {
            _userCancellation = options.CancellationToken.UnsafeRegister(
                static s => ((ClientCall<TRequest, TResponse>)s!).CancelWith(CancelledStatus), this);
        }
        _responseReady = StartAsync(CreateRequest(options, timeout));
    }

    private static Status DeadlineStatus => new(StatusCode.DeadlineExceeded, "Deadline Exceeded");
    private static Status CancelledStatus => new(StatusCode.Cancelled, "Call canceled by the client.");

    public IClientMessageWriter<TRequest> RequestStream => this;
    public IMessageReader<TResponse> ResponseStream => this;
    public Task<Status> StatusAsync => _status.Task;

    public void Cancel() => CancelWith(CancelledStatus);

    private HttpRequestMessage CreateRequest(CallOptions options, TimeSpan? timeout)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, _channel.MethodUri(_method.FullName))
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = _content,
        };
        HttpRequestHeaders headers = request.Headers;
        headers.TE.Add(Trailers);
        headers.UserAgent.Add(UserAgent);
        if (timeout is { } t)
        {
            headers.TryAddWithoutValidation(GrpcHeaders.Timeout, GrpcHeaders.FormatTimeout(t));
        }
        if (options.Headers is { } custom)
        {
            foreach (KeyValuePair<string, string> header in custom)
            {
                headers.TryAddWithoutValidation(header.Key, header.Value);
            }
        }
        return request;
    }

    /// <summary>Sends the request and checks the response headers; null when the call already has its status.</summary>
    private async Task<PipeReader?> StartAsync(HttpRequestMessage request)
    {
        try
        {
            HttpResponseMessage response = await _channel.Invoker.SendAsync(request, _cts.Token).ConfigureAwait(false);
            _response = response;
            if (response.StatusCode != HttpStatusCode.OK)
            {
                Complete(new Status(GrpcHeaders.FromHttpStatus((int)response.StatusCode),
                    "Bad gRPC response. HTTP status code: " + (int)response.StatusCode));
                return null;
            }
            if (TryReadStatus(response.Headers, out Status trailersOnly))
            {
                Complete(trailersOnly);
                return null;
            }
            if (!GrpcHeaders.IsGrpcContentType(response.Content.Headers.ContentType?.MediaType))
            {
                Complete(new Status(StatusCode.Unknown, "Bad gRPC response. Invalid content-type: " + response.Content.Headers.ContentType));
                return null;
            }
            Stream body = await response.Content.ReadAsStreamAsync(_cts.Token).ConfigureAwait(false);
            _reader = PipeReader.Create(body, new StreamPipeReaderOptions(bufferSize: 16 * 1024, minimumReadSize: 4 * 1024, leaveOpen: true));
            if (_status.Task.IsCompleted)
            {
                CloseResponse(); // cancelled while the headers were on their way
                return null;
            }
            return _reader;
        }
        catch (Exception ex)
        {
            Complete(StatusFromException(ex, "Error starting gRPC call"));
            return null;
        }
    }

    public async ValueTask<TResponse?> ReadAsync(CancellationToken cancellationToken = default)
    {
        PipeReader? reader = await _responseReady.ConfigureAwait(false);
        if (reader is null || _status.Task.IsCompleted)
        {
            return ResultOfFinishedCall();
        }
        CancellationTokenRegistration registration = cancellationToken.CanBeCanceled
            ? cancellationToken.UnsafeRegister(static s => ((ClientCall<TRequest, TResponse>)s!).CancelWith(CancelledStatus), this)
            : default;
        try
        {
            TResponse? message = await MessageFraming.ReadMessageAsync(reader, _method.ResponseParser, _channel.MaxReceiveMessageSize, _cts.Token)
                .ConfigureAwait(false);
            if (message is not null)
            {
                return message;
            }
            // End of body: the status is in the trailers, which the handler has filled in by now.
            Complete(TryReadStatus(_response!.TrailingHeaders, out Status status)
                ? status
                : new Status(StatusCode.Internal, "No grpc-status found on response."));
        }
        catch (RpcException ex) when (!_cts.IsCancellationRequested)
        {
            Complete(ex.Status); // a bad frame from the server (too large, corrupt): the call is over
        }
        catch (Exception ex)
        {
            Complete(StatusFromException(ex, "Error reading the response"));
        }
        finally
        {
            await registration.DisposeAsync().ConfigureAwait(false);
        }
        return ResultOfFinishedCall();
    }

    private TResponse? ResultOfFinishedCall()
    {
        Status status = _status.Task.Result;
        return status.Code == StatusCode.OK ? null : throw new RpcException(status);
    }

    public async ValueTask WriteAsync(TRequest message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (_requestCompleted)
        {
            throw new InvalidOperationException("The request stream was already completed.");
        }
        if (!_content.Stream.IsCompleted)
        {
            await Task.WhenAny(_content.Stream, _status.Task).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        ThrowIfFinished();
        Stream stream = await _content.Stream.ConfigureAwait(false);
        byte[] frame = MessageFraming.RentFrame(message, int.MaxValue, out int length);
        try
        {
            using CancellationTokenSource? linked = cancellationToken.CanBeCanceled
                ? CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _cts.Token)
                : null;
            CancellationToken token = linked?.Token ?? _cts.Token;
            await stream.WriteAsync(frame.AsMemory(0, length), token).ConfigureAwait(false);
            // Each message goes out now: the server may be waiting for it before it answers.
            await stream.FlushAsync(token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not RpcException)
        {
            if (cancellationToken.IsCancellationRequested)
            {
                CancelWith(CancelledStatus);
            }
            ThrowIfFinished();
            throw new RpcException(StatusFromException(ex, "Error sending a request message"));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(frame);
        }
    }

    public ValueTask CompleteAsync()
    {
        _requestCompleted = true;
        _content.Complete();
        return default;
    }

    private void ThrowIfFinished()
    {
        if (_status.Task.IsCompleted)
        {
            Status status = _status.Task.Result;
            throw status.Code == StatusCode.OK
                ? new InvalidOperationException("The call has already finished.")
                : new RpcException(status);
        }
    }

    /// <summary>A local reason to stop: the stream is reset (RST_STREAM CANCEL) and the status is final.</summary>
    private void CancelWith(Status status)
    {
        if (Interlocked.CompareExchange(ref _cancelCode, (int)status.Code, 0) != 0)
        {
            return;
        }
        Complete(status);
    }

    private void Complete(Status status)
    {
        if (!_status.TrySetResult(status))
        {
            return;
        }
        _deadlineTimer?.Dispose();
        _content.Complete();
        if (status.Code != StatusCode.OK)
        {
            // Resetting the stream tells the server to stop; SocketsHttpHandler sends RST_STREAM(CANCEL)
            // when the request's token fires or the response is disposed before its end.
            try
            {
                _cts.Cancel();
            }
            catch (AggregateException)
            {
                // A callback failing must not hide the call's status.
            }
            CloseResponse();
        }
    }

    private void CloseResponse()
    {
        _response?.Dispose();
    }

    private Status StatusFromException(Exception ex, string what)
    {
        if (_cancelCode != 0)
        {
            return _status.Task.IsCompleted ? _status.Task.Result : CancelledStatus;
        }
        if (_status.Task.IsCompleted)
        {
            return _status.Task.Result;
        }
        return ex switch
        {
            HttpProtocolException { ErrorCode: 0x8 } => new Status(StatusCode.Cancelled, what + ": the server cancelled the stream."),
            HttpProtocolException { ErrorCode: 0x7 } => new Status(StatusCode.Unavailable, what + ": the server refused the stream."),
            HttpProtocolException { ErrorCode: 0xb } => new Status(StatusCode.ResourceExhausted, what + ": the server asked to calm down."),
            HttpProtocolException p => new Status(StatusCode.Internal, what + ": HTTP/2 error " + p.ErrorCode + "."),
            HttpRequestException or IOException => new Status(StatusCode.Unavailable, what + ": " + ex.Message),
            OperationCanceledException => CancelledStatus,
            _ => new Status(StatusCode.Internal, what + ": " + ex.GetType().Name + ": " + ex.Message),
        };
    }

    private static bool TryReadStatus(HttpHeaders headers, out Status status)
    {
        status = default;
        if (!headers.TryGetValues(GrpcHeaders.Status, out IEnumerable<string>? codes))
        {
            return false;
        }
        string? code = null;
        foreach (string value in codes)
        {
            code = value;
            break;
        }
        if (!int.TryParse(code, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int numeric))
        {
            status = new Status(StatusCode.Unknown, "Invalid grpc-status: " + code);
            return true;
        }
        string detail = "";
        if (headers.TryGetValues(GrpcHeaders.Message, out IEnumerable<string>? messages))
        {
            foreach (string value in messages)
            {
                detail = GrpcHeaders.DecodeMessage(value);
                break;
            }
        }
        status = new Status((StatusCode)numeric, detail);
        return true;
    }

    public async ValueTask DisposeAsync()
    {
        // Disposing a call that has not finished abandons it; the server must hear about that.
        CancelWith(CancelledStatus);
        await _userCancellation.DisposeAsync().ConfigureAwait(false);
        if (_reader is not null)
        {
            await _reader.CompleteAsync().ConfigureAwait(false);
        }
        CloseResponse();
        _content.Dispose();
        _cts.Dispose();
    }
}
