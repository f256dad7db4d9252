using Google.Protobuf;

namespace Weft.Protocol.Grpc;

// The surface of our gRPC transport (gRPC over HTTP/2: Kestrel on the server side, SocketsHttpHandler
// on the client side). Grpc.AspNetCore is not installable here, so this is ours; it follows
// grpc/doc/PROTOCOL-HTTP2.md. Code on either side of a stream depends only on these types, so the
// discovery state machines can be tested over in-memory streams.

/// <summary>gRPC status codes (grpc/doc/statuscodes.md).</summary>
public enum StatusCode
{
    OK = 0,
    Cancelled = 1,
    Unknown = 2,
    InvalidArgument = 3,
    DeadlineExceeded = 4,
    NotFound = 5,
    AlreadyExists = 6,
    PermissionDenied = 7,
    ResourceExhausted = 8,
    FailedPrecondition = 9,
    Aborted = 10,
    OutOfRange = 11,
    Unimplemented = 12,
    Internal = 13,
    Unavailable = 14,
    DataLoss = 15,
    Unauthenticated = 16,
}

public readonly record struct Status(StatusCode Code, string Detail)
{
    public static readonly Status Ok = new(StatusCode.OK, "");
    public override string ToString() => Detail.Length == 0 ? Code.ToString() : $"{Code}: {Detail}";
}

/// <summary>A call ended with a non-OK status. Thrown by clients; thrown by handlers to fail a call.</summary>
public sealed class RpcException : Exception
{
    public RpcException(Status status) : base(status.ToString()) => Status = status;
    public RpcException(StatusCode code, string detail) : this(new Status(code, detail)) { }
    public Status Status { get; }
    public StatusCode StatusCode => Status.Code;
}

public enum MethodType { Unary, ClientStreaming, ServerStreaming, DuplexStreaming }

/// <summary>Names a method and says how to (de)serialize its messages.</summary>
public sealed class Method<TRequest, TResponse>
    where TRequest : IMessage<TRequest>
    where TResponse : IMessage<TResponse>
{
    public Method(string service, string name, MethodType type, MessageParser<TRequest> requestParser, MessageParser<TResponse> responseParser)
    {
        Service = service;
        Name = name;
        Type = type;
        RequestParser = requestParser;
        ResponseParser = responseParser;
        FullName = "/" + service + "/" + name;
    }

    public string Service { get; }           // fully qualified, e.g. "grpc.health.v1.Health"
    public string Name { get; }              // e.g. "Check"
    public string FullName { get; }          // the HTTP/2 :path, e.g. "/grpc.health.v1.Health/Check"
    public MethodType Type { get; }
    public MessageParser<TRequest> RequestParser { get; }
    public MessageParser<TResponse> ResponseParser { get; }
}

/// <summary>Reads messages of one direction of a call.</summary>
public interface IMessageReader<T> where T : class
{
    /// <summary>The next message, or null once the other side has finished sending.</summary>
    ValueTask<T?> ReadAsync(CancellationToken cancellationToken = default);
}

/// <summary>Writes messages of one direction of a call. Not safe for concurrent writers.</summary>
public interface IMessageWriter<in T> where T : class
{
    ValueTask WriteAsync(T message, CancellationToken cancellationToken = default);
}

/// <summary>The client's request direction: it can also say "no more messages" (half-close).</summary>
public interface IClientMessageWriter<in T> : IMessageWriter<T> where T : class
{
    ValueTask CompleteAsync();
}

/// <summary>What a server handler knows about its call.</summary>
public interface IServerCallContext
{
    string Method { get; }
    /// <summary>From grpc-timeout; null when the client set none.</summary>
    DateTimeOffset? Deadline { get; }
    /// <summary>Fires when the client cancels, the deadline passes or the connection drops.</summary>
    CancellationToken CancellationToken { get; }
    /// <summary>The remote address as "ip:port".</summary>
    string Peer { get; }
    /// <summary>Custom request metadata (ASCII headers other than the protocol's own).</summary>
    IReadOnlyDictionary<string, string> RequestHeaders { get; }
    /// <summary>The certificate the client presented in the TLS handshake (the server's TLS options checked it); null on h2c or without one.</summary>
    System.Security.Cryptography.X509Certificates.X509Certificate2? PeerCertificate { get; }
}

/// <summary>Per-call options on the client side.</summary>
public readonly record struct CallOptions(
    DateTimeOffset? Deadline = null,
    CancellationToken CancellationToken = default,
    IReadOnlyDictionary<string, string>? Headers = null);

/// <summary>A client-side streaming or duplex call in progress.</summary>
public interface IStreamingCall<in TRequest, TResponse> : IAsyncDisposable
    where TRequest : class where TResponse : class
{
    IClientMessageWriter<TRequest> RequestStream { get; }
    IMessageReader<TResponse> ResponseStream { get; }
    /// <summary>Completes with the call's final status (after the response stream ended).</summary>
    Task<Status> StatusAsync { get; }
    /// <summary>Cancels the call: the server sees RST_STREAM(CANCEL).</summary>
    void Cancel();
}
