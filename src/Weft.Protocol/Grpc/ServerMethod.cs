using Google.Protobuf;
using Microsoft.AspNetCore.Http;

namespace Weft.Protocol.Grpc;

/// <summary>A registered method, typed away so the server's route table holds one kind of value.</summary>
internal abstract class ServerMethod
{
    protected ServerMethod(string fullName) => FullName = fullName;

    public string FullName { get; }

    public abstract Task HandleAsync(HttpContext context, GrpcServer server);
}

internal sealed class ServerMethod<TRequest, TResponse> : ServerMethod
    where TRequest : class, IMessage<TRequest> where TResponse : class, IMessage<TResponse>
{
    private readonly Func<TRequest, IServerCallContext, Task<TResponse>>? _unary;
    private readonly Func<TRequest, IMessageWriter<TResponse>, IServerCallContext, Task>? _serverStreaming;
    private readonly Func<IMessageReader<TRequest>, IServerCallContext, Task<TResponse>>? _clientStreaming;
    private readonly Func<IMessageReader<TRequest>, IMessageWriter<TResponse>, IServerCallContext, Task>? _duplex;

    public ServerMethod(
        Method<TRequest, TResponse> method,
        Func<TRequest, IServerCallContext, Task<TResponse>>? unary = null,
        Func<TRequest, IMessageWriter<TResponse>, IServerCallContext, Task>? serverStreaming = null,
        Func<IMessageReader<TRequest>, IServerCallContext, Task<TResponse>>? clientStreaming = null,
        Func<IMessageReader<TRequest>, IMessageWriter<TResponse>, IServerCallContext, Task>? duplex = null)
        : base(method.FullName)
    {
        Method = method;
        _unary = unary;
        _serverStreaming = serverStreaming;
        _clientStreaming = clientStreaming;
        _duplex = duplex;
        // The registration call names the shape; the Method descriptor must agree or the peer would disagree too.
        MethodType registered = unary is not null ? MethodType.Unary
            : serverStreaming is not null ? MethodType.ServerStreaming
            : clientStreaming is not null ? MethodType.ClientStreaming
            : duplex is not null ? MethodType.DuplexStreaming
            : throw new ArgumentException("A handler is required.", nameof(method));
        if (registered != method.Type)
        {
            throw new ArgumentException($"{method.FullName} is {method.Type} but was registered as {registered}.", nameof(method));
        }
    }

    public Method<TRequest, TResponse> Method { get; }

    /// <summary>Unary and client-streaming answers are written with the trailers in one flush.</summary>
    public bool FlushEachMessage => Method.Type is MethodType.ServerStreaming or MethodType.DuplexStreaming;

    public override Task HandleAsync(HttpContext context, GrpcServer server) =>
        new ServerCall<TRequest, TResponse>(context, this, server).RunAsync();

    /// <summary>Runs the user's handler for one call; the call object is the reader, writer and context.</summary>
    public async Task InvokeAsync(ServerCall<TRequest, TResponse> call)
    {
        switch (Method.Type)
        {
            case MethodType.Unary:
            {
                TRequest request = await call.ReadSingleAsync().ConfigureAwait(false);
                TResponse response = await _unary!(request, call).ConfigureAwait(false);
                await call.WriteAsync(response ?? throw NoResponse()).ConfigureAwait(false);
                break;
            }
            case MethodType.ServerStreaming:
            {
                TRequest request = await call.ReadSingleAsync().ConfigureAwait(false);
                await _serverStreaming!(request, call, call).ConfigureAwait(false);
                break;
            }
            case MethodType.ClientStreaming:
            {
                TResponse response = await _clientStreaming!(call, call).ConfigureAwait(false);
                await call.WriteAsync(response ?? throw NoResponse()).ConfigureAwait(false);
                break;
            }
            default:
                await _duplex!(call, call, call).ConfigureAwait(false);
                break;
        }
    }

    private static RpcException NoResponse() => new(StatusCode.Internal, "The handler returned no response.");
}
