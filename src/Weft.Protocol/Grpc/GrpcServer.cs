using System.Collections.Concurrent;
using System.Globalization;
using Google.Protobuf;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Weft.Protocol.Grpc;

/// <summary>
/// Serves registered gRPC methods on an HTTP/2 Kestrel endpoint: <c>app.Run(server.HandleAsync)</c>.
/// Register every method before the endpoint takes traffic; lookups on the request path take no lock.
/// </summary>
public sealed class GrpcServer
{
    private readonly ConcurrentDictionary<string, ServerMethod> _methods = new(StringComparer.Ordinal);

    /// <summary>Largest message accepted from a client; larger ones fail the call with RESOURCE_EXHAUSTED.</summary>
    public int MaxReceiveMessageSize { get; init; } = 4 * 1024 * 1024;
    public int MaxSendMessageSize { get; init; } = 4 * 1024 * 1024;

    /// <summary>Clock for grpc-timeout deadlines; tests may drive it.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Where handler failures are reported (their details never reach the client).</summary>
    public ILogger Logger { get; init; } = NullLogger.Instance;

    public void AddUnary<TRequest, TResponse>(Method<TRequest, TResponse> method, Func<TRequest, IServerCallContext, Task<TResponse>> handler)
        where TRequest : class, IMessage<TRequest> where TResponse : class, IMessage<TResponse> =>
        Add(new ServerMethod<TRequest, TResponse>(method, unary: handler));

    public void AddServerStreaming<TRequest, TResponse>(Method<TRequest, TResponse> method, Func<TRequest, IMessageWriter<TResponse>, IServerCallContext, Task> handler)
        where TRequest : class, IMessage<TRequest> where TResponse : class, IMessage<TResponse> =>
        Add(new ServerMethod<TRequest, TResponse>(method, serverStreaming: handler));

    public void AddClientStreaming<TRequest, TResponse>(Method<TRequest, TResponse> method, Func<IMessageReader<TRequest>, IServerCallContext, Task<TResponse>> handler)
        where TRequest : class, IMessage<TRequest> where TResponse : class, IMessage<TResponse> =>
        Add(new ServerMethod<TRequest, TResponse>(method, clientStreaming: handler));

    public void AddDuplexStreaming<TRequest, TResponse>(Method<TRequest, TResponse> method, Func<IMessageReader<TRequest>, IMessageWriter<TResponse>, IServerCallContext, Task> handler)
        where TRequest : class, IMessage<TRequest> where TResponse : class, IMessage<TResponse> =>
        Add(new ServerMethod<TRequest, TResponse>(method, duplex: handler));

    /// <summary>The request delegate: answers gRPC calls, UNIMPLEMENTED for unknown methods.</summary>
    public Task HandleAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        HttpRequest request = context.Request;
        // The order follows grpc-dotnet and the spec: transport-level problems get an HTTP status,
        // everything after that is a gRPC status with HTTP 200.
        if (!HttpMethods.IsPost(request.Method))
        {
            return Reject(context.Response, StatusCodes.Status405MethodNotAllowed, StatusCode.Internal, "gRPC requires POST.");
        }
        if (!GrpcHeaders.IsGrpcContentType(request.ContentType))
        {
            return Reject(context.Response, StatusCodes.Status415UnsupportedMediaType, StatusCode.Internal,
                "Content-Type '" + request.ContentType + "' is not supported by gRPC.");
        }
        if (!HttpProtocol.IsHttp2(request.Protocol))
        {
            return Reject(context.Response, StatusCodes.Status426UpgradeRequired, StatusCode.Internal, "gRPC requires HTTP/2.");
        }
        if (request.Path.Value is not { } path || !_methods.TryGetValue(path, out ServerMethod? method))
        {
            return Reject(context.Response, StatusCodes.Status200OK, StatusCode.Unimplemented,
                "Method " + request.Path.Value + " is unimplemented.");
        }
        return method.HandleAsync(context, this);
    }

    private void Add(ServerMethod serverMethod)
    {
        if (!_methods.TryAdd(serverMethod.FullName, serverMethod))
        {
            throw new InvalidOperationException("A handler for " + serverMethod.FullName + " is already registered.");
        }
    }

    private static Task Reject(HttpResponse response, int httpStatus, StatusCode code, string detail)
    {
        response.StatusCode = httpStatus;
        WriteTrailersOnly(response, new Status(code, detail));
        return Task.CompletedTask;
    }

    /// <summary>A call that ends before any message: the status rides in the only HEADERS frame.</summary>
    internal static void WriteTrailersOnly(HttpResponse response, Status status)
    {
        response.ContentType = GrpcHeaders.ContentType;
        response.Headers[GrpcHeaders.Status] = StatusText(status.Code);
        if (status.Detail.Length > 0)
        {
            response.Headers[GrpcHeaders.Message] = GrpcHeaders.EncodeMessage(status.Detail);
        }
    }

    internal static string StatusText(StatusCode code) => ((int)code).ToString(CultureInfo.InvariantCulture);
}
