using System.IO.Pipelines;
using Google.Protobuf;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Microsoft.Extensions.Primitives;

namespace Weft.Protocol.Grpc;

/// <summary>
/// One call on the server: the handler's request reader, response writer and call context in a
/// single object, so a call costs one allocation beyond what Kestrel already made.
/// </summary>
internal sealed class ServerCall<TRequest, TResponse> : IServerCallContext, IMessageReader<TRequest>, IMessageWriter<TResponse>
    where TRequest : class, IMessage<TRequest> where TResponse : class, IMessage<TResponse>
{
    // Beyond this the CancellationTokenSource timer cannot count; such deadlines never fire in practice.
    private static readonly TimeSpan MaxTimer = TimeSpan.FromDays(30);

    private readonly HttpContext _context;
    private readonly ServerMethod<TRequest, TResponse> _method;
    private readonly GrpcServer _server;
    private CancellationTokenSource? _deadlineCts;
    private bool _wroteMessage;
    private bool _finished;
    private Dictionary<string, string>? _requestHeaders;

    public ServerCall(HttpContext context, ServerMethod<TRequest, TResponse> method, GrpcServer server)
    {
        _context = context;
        _method = method;
        _server = server;
        CancellationToken = context.RequestAborted;
    }

    public string Method => _method.FullName;
    public DateTimeOffset? Deadline { get; private set; }
    public CancellationToken CancellationToken { get; private set; }

    public string Peer
    {
        get
        {
            ConnectionInfo c = _context.Connection;
            return c.RemoteIpAddress is null ? "" : new System.Net.IPEndPoint(c.RemoteIpAddress, c.RemotePort).ToString();
        }
    }

    public System.Security.Cryptography.X509Certificates.X509Certificate2? PeerCertificate => _context.Connection.ClientCertificate;

    public IReadOnlyDictionary<string, string> RequestHeaders => _requestHeaders ??= CollectCustomHeaders(_context.Request.Headers);

    private bool DeadlinePassed => _deadlineCts is { IsCancellationRequested: true } && !_context.RequestAborted.IsCancellationRequested;

    public async Task RunAsync()
    {
        HttpResponse response = _context.Response;
        // Streams live as long as the peer wants; Kestrel's body size and data rate limits are for uploads.
        if (_context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
        {
            size.MaxRequestBodySize = null;
        }
        if (_context.Features.Get<IHttpMinRequestBodyDataRateFeature>() is { } rate)
        {
            rate.MinDataRate = null;
        }
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = GrpcHeaders.ContentType;
        response.Headers[GrpcHeaders.AcceptEncoding] = "identity";

        CancellationTokenRegistration abortRegistration = default;
        if (GrpcHeaders.TryParseTimeout(_context.Request.Headers[GrpcHeaders.Timeout], out TimeSpan timeout))
        {
            Deadline = _server.TimeProvider.GetUtcNow() + timeout;
            if (timeout < MaxTimer)
            {
                _deadlineCts = new CancellationTokenSource(timeout, _server.TimeProvider);
                abortRegistration = _context.RequestAborted.UnsafeRegister(static s => ((CancellationTokenSource)s!).Cancel(), _deadlineCts);
                CancellationToken = _deadlineCts.Token;
            }
        }

        try
        {
            Status status = await InvokeAsync().ConfigureAwait(false);
            _finished = true;
            if (_context.RequestAborted.IsCancellationRequested)
            {
                return; // the client reset the stream: nobody is listening for a status
            }
            Finish(status);
        }
        finally
        {
            abortRegistration.Dispose();
            _deadlineCts?.Dispose();
        }
    }

    private async Task<Status> InvokeAsync()
    {
        try
        {
            await _method.InvokeAsync(this).ConfigureAwait(false);
            // A handler that finished after the deadline still missed it; the client has given up.
            return DeadlinePassed ? DeadlineStatus() : Status.Ok;
        }
        catch (RpcException ex)
        {
            return DeadlinePassed && ex.StatusCode == StatusCode.Cancelled ? DeadlineStatus() : ex.Status;
        }
        catch (Exception ex) when (CancellationToken.IsCancellationRequested)
        {
            if (DeadlinePassed)
            {
                return DeadlineStatus();
            }
            if (ex is not OperationCanceledException && !_context.RequestAborted.IsCancellationRequested)
            {
                ServerLog.HandlerFailed(_server.Logger, Method, ex);
            }
            return new Status(StatusCode.Cancelled, "The call was cancelled.");
        }
        catch (Exception ex)
        {
            ServerLog.HandlerFailed(_server.Logger, Method, ex);
            // The exception text may hold internals; the client only learns that the handler failed.
            return new Status(StatusCode.Unknown, "Exception was thrown by handler.");
        }
    }

    private static Status DeadlineStatus() => new(StatusCode.DeadlineExceeded, "Deadline Exceeded");

    private void Finish(Status status)
    {
        HttpResponse response = _context.Response;
        if (!_wroteMessage && !response.HasStarted)
        {
            GrpcServer.WriteTrailersOnly(response, status);
            return;
        }
        if (!response.SupportsTrailers())
        {
            // Only HTTP/2 and later carry trailers and HandleAsync admits nothing else.
            throw new InvalidOperationException("The response does not support trailers.");
        }
        response.AppendTrailer(GrpcHeaders.Status, GrpcServer.StatusText(status.Code));
        if (status.Detail.Length > 0)
        {
            response.AppendTrailer(GrpcHeaders.Message, GrpcHeaders.EncodeMessage(status.Detail));
        }
    }

    public ValueTask<TRequest?> ReadAsync(CancellationToken cancellationToken = default) =>
        MessageFraming.ReadMessageAsync(_context.Request.BodyReader, _method.Method.RequestParser, _server.MaxReceiveMessageSize,
            cancellationToken.CanBeCanceled ? cancellationToken : CancellationToken);

    /// <summary>Unary and server-streaming requests: exactly one message, then the client half-closes.</summary>
    public async ValueTask<TRequest> ReadSingleAsync()
    {
        TRequest request = await ReadAsync().ConfigureAwait(false)
            ?? throw new RpcException(StatusCode.Internal, "The request did not include a message.");
        if (await ReadAsync().ConfigureAwait(false) is not null)
        {
            throw new RpcException(StatusCode.Internal, "The request included more than one message.");
        }
        return request;
    }

    public ValueTask WriteAsync(TResponse message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (_finished)
        {
            throw new InvalidOperationException("The call has already finished.");
        }
        PipeWriter writer = _context.Response.BodyWriter;
        MessageFraming.WriteMessage(writer, message, _server.MaxSendMessageSize);
        _wroteMessage = true;
        return _method.FlushEachMessage
            ? FlushAsync(writer, cancellationToken.CanBeCanceled ? cancellationToken : CancellationToken)
            : default;
    }

    private static async ValueTask FlushAsync(PipeWriter writer, CancellationToken cancellationToken)
    {
        FlushResult result = await writer.FlushAsync(cancellationToken).ConfigureAwait(false);
        if (result.IsCanceled)
        {
            throw new OperationCanceledException(cancellationToken);
        }
    }

    private static Dictionary<string, string> CollectCustomHeaders(IHeaderDictionary headers)
    {
        var custom = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (KeyValuePair<string, StringValues> header in headers)
        {
            if (!IsProtocolHeader(header.Key))
            {
                custom[header.Key] = header.Value.ToString();
            }
        }
        return custom;
    }

    // Pseudo-headers, HTTP plumbing and the grpc- prefix belong to the protocol, not to the application.
    private static bool IsProtocolHeader(string name) =>
        name.StartsWith(':')
        || name.StartsWith("grpc-", StringComparison.OrdinalIgnoreCase)
        || name.Equals("content-type", StringComparison.OrdinalIgnoreCase)
        || name.Equals("te", StringComparison.OrdinalIgnoreCase)
        || name.Equals("host", StringComparison.OrdinalIgnoreCase)
        || name.Equals("content-length", StringComparison.OrdinalIgnoreCase)
        || name.Equals("accept-encoding", StringComparison.OrdinalIgnoreCase);
}
