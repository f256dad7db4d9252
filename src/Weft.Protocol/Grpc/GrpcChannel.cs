using Google.Protobuf;

namespace Weft.Protocol.Grpc;

/// <summary>
/// A client connection to one gRPC server (<c>http://host:port</c>, h2c prior knowledge) over
/// SocketsHttpHandler; calls are multiplexed on its HTTP/2 connection.
/// STUB: the transport is being written; signatures are the contract.
/// </summary>
public sealed class GrpcChannel : IDisposable
{
    public GrpcChannel(Uri address, int maxReceiveMessageSize = 4 * 1024 * 1024) => throw new NotImplementedException();

    public Task<TResponse> UnaryAsync<TRequest, TResponse>(Method<TRequest, TResponse> method, TRequest request, CallOptions options = default)
        where TRequest : class, IMessage<TRequest> where TResponse : class, IMessage<TResponse> => throw new NotImplementedException();

    /// <summary>The request is sent and half-closed; read the responses from ResponseStream.</summary>
    public IStreamingCall<TRequest, TResponse> ServerStreaming<TRequest, TResponse>(Method<TRequest, TResponse> method, TRequest request, CallOptions options = default)
        where TRequest : class, IMessage<TRequest> where TResponse : class, IMessage<TResponse> => throw new NotImplementedException();

    /// <summary>Write requests, CompleteAsync, then read the one response from ResponseStream.</summary>
    public IStreamingCall<TRequest, TResponse> ClientStreaming<TRequest, TResponse>(Method<TRequest, TResponse> method, CallOptions options = default)
        where TRequest : class, IMessage<TRequest> where TResponse : class, IMessage<TResponse> => throw new NotImplementedException();

    public IStreamingCall<TRequest, TResponse> DuplexStreaming<TRequest, TResponse>(Method<TRequest, TResponse> method, CallOptions options = default)
        where TRequest : class, IMessage<TRequest> where TResponse : class, IMessage<TResponse> => throw new NotImplementedException();

    public void Dispose() { }
}
