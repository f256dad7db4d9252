using Google.Protobuf;
using Microsoft.AspNetCore.Http;

namespace Weft.Protocol.Grpc;

/// <summary>
/// Serves registered gRPC methods on an HTTP/2 Kestrel endpoint: <c>app.Run(server.HandleAsync)</c>.
/// STUB: the transport is being written; signatures are the contract.
/// </summary>
public sealed class GrpcServer
{
    /// <summary>Largest message accepted from a client; larger ones fail the call with RESOURCE_EXHAUSTED.</summary>
    public int MaxReceiveMessageSize { get; init; } = 4 * 1024 * 1024;
    public int MaxSendMessageSize { get; init; } = 4 * 1024 * 1024;

    public void AddUnary<TRequest, TResponse>(Method<TRequest, TResponse> method, Func<TRequest, IServerCallContext, Task<TResponse>> handler)
        where TRequest : class, IMessage<TRequest> where TResponse : class, IMessage<TResponse> => throw new NotImplementedException();

    public void AddServerStreaming<TRequest, TResponse>(Method<TRequest, TResponse> method, Func<TRequest, IMessageWriter<TResponse>, IServerCallContext, Task> handler)
        where TRequest : class, IMessage<TRequest> where TResponse : class, IMessage<TResponse> => throw new NotImplementedException();

    public void AddClientStreaming<TRequest, TResponse>(Method<TRequest, TResponse> method, Func<IMessageReader<TRequest>, IServerCallContext, Task<TResponse>> handler)
        where TRequest : class, IMessage<TRequest> where TResponse : class, IMessage<TResponse> => throw new NotImplementedException();

    public void AddDuplexStreaming<TRequest, TResponse>(Method<TRequest, TResponse> method, Func<IMessageReader<TRequest>, IMessageWriter<TResponse>, IServerCallContext, Task> handler)
        where TRequest : class, IMessage<TRequest> where TResponse : class, IMessage<TResponse> => throw new NotImplementedException();

    /// <summary>The request delegate: answers gRPC calls, UNIMPLEMENTED for unknown methods.</summary>
    public Task HandleAsync(HttpContext context) => throw new NotImplementedException();
}
