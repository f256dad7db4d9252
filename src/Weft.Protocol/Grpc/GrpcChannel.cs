using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Google.Protobuf;

namespace Weft.Protocol.Grpc;

/// <summary>
/// How a channel to an <c>https://</c> server checks it and proves itself: the server's certificate is
/// believed only when <see cref="ValidateServer"/> says so (no system roots: a mesh trusts its own CA),
/// and <see cref="ClientCertificate"/>, asked at each handshake, is presented when it gives one.
/// </summary>
public sealed record GrpcTls(RemoteCertificateValidationCallback ValidateServer, Func<X509Certificate2?>? ClientCertificate = null);

/// <summary>
/// A client connection to one gRPC server (<c>http://host:port</c>, h2c prior knowledge; or
/// <c>https://host:port</c> with <see cref="GrpcTls"/>, TLS 1.3 with ALPN h2) over SocketsHttpHandler;
/// calls are multiplexed on its HTTP/2 connection(s). Thread-safe; share one per server.
/// </summary>
public sealed class GrpcChannel : IDisposable
{
    private readonly HttpMessageInvoker _invoker;
    // Parsing a Uri per call is measurable on the unary path; a channel talks to few methods.
    private readonly ConcurrentDictionary<string, Uri> _methodUris = new(StringComparer.Ordinal);

    public GrpcChannel(Uri address, int maxReceiveMessageSize = 4 * 1024 * 1024, TimeProvider? timeProvider = null, GrpcTls? tls = null)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.Scheme == Uri.UriSchemeHttps && tls is null)
            throw new ArgumentException("An https:// address needs GrpcTls: how to check the server's certificate.", nameof(address));
        if (address.Scheme != Uri.UriSchemeHttp && address.Scheme != Uri.UriSchemeHttps)
            throw new ArgumentException("Only http:// (h2c prior knowledge) and https:// addresses are supported.", nameof(address));
        Address = address;
        MaxReceiveMessageSize = maxReceiveMessageSize;
        TimeProvider = timeProvider ?? TimeProvider.System;
        var handler = new SocketsHttpHandler
        {
            // One HTTP/2 connection caps concurrent streams (100 on Kestrel); more calls open more connections.
            EnableMultipleHttp2Connections = true,
            // Long-lived discovery streams must notice a dead peer without waiting on TCP timeouts.
            KeepAlivePingDelay = TimeSpan.FromSeconds(30),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(10),
            KeepAlivePingPolicy = HttpKeepAlivePingPolicy.WithActiveRequests,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            ConnectTimeout = TimeSpan.FromSeconds(10),
            AutomaticDecompression = DecompressionMethods.None,
            UseProxy = false,
            UseCookies = false,
            AllowAutoRedirect = false,
        };
        if (address.Scheme == Uri.UriSchemeHttps)
        {
            handler.SslOptions = new SslClientAuthenticationOptions
            {
                EnabledSslProtocols = SslProtocols.Tls13,
                ApplicationProtocols = [SslApplicationProtocol.Http2],
                RemoteCertificateValidationCallback = tls!.ValidateServer,
                LocalCertificateSelectionCallback = tls.ClientCertificate is { } pick ? (_, _, _, _, _) => pick()! : null,
            };
        }
        _invoker = new HttpMessageInvoker(handler, disposeHandler: true);
    }

    internal Uri Address { get; }
    internal int MaxReceiveMessageSize { get; }
    internal TimeProvider TimeProvider { get; }
    internal HttpMessageInvoker Invoker => _invoker;

    internal Uri MethodUri(string fullName) =>
        _methodUris.TryGetValue(fullName, out Uri? uri) ? uri : _methodUris.GetOrAdd(fullName, new Uri(Address, fullName));

    public async Task<TResponse> UnaryAsync<TRequest, TResponse>(Method<TRequest, TResponse> method, TRequest request, CallOptions options = default)
        where TRequest : class, IMessage<TRequest> where TResponse : class, IMessage<TResponse>
    {
        ArgumentNullException.ThrowIfNull(request);
        var call = new ClientCall<TRequest, TResponse>(this, method, options, request);
        await using (call.ConfigureAwait(false))
        {
            TResponse response = await call.ReadAsync().ConfigureAwait(false)
                ?? throw new RpcException(StatusCode.Internal, "The server sent no response message.");
            // Reading on to the end collects the trailers: an OK message followed by an error status is an error.
            if (await call.ReadAsync().ConfigureAwait(false) is not null)
            {
                throw new RpcException(StatusCode.Internal, "The server sent more than one response message.");
            }
            return response;
        }
    }

    /// <summary>The request is sent and half-closed; read the responses from ResponseStream.</summary>
    public IStreamingCall<TRequest, TResponse> ServerStreaming<TRequest, TResponse>(Method<TRequest, TResponse> method, TRequest request, CallOptions options = default)
        where TRequest : class, IMessage<TRequest> where TResponse : class, IMessage<TResponse>
    {
        ArgumentNullException.ThrowIfNull(request);
        return new ClientCall<TRequest, TResponse>(this, method, options, request);
    }

    /// <summary>Write requests, CompleteAsync, then read the one response from ResponseStream.</summary>
    public IStreamingCall<TRequest, TResponse> ClientStreaming<TRequest, TResponse>(Method<TRequest, TResponse> method, CallOptions options = default)
        where TRequest : class, IMessage<TRequest> where TResponse : class, IMessage<TResponse> =>
        new ClientCall<TRequest, TResponse>(this, method, options, singleRequest: null);

    public IStreamingCall<TRequest, TResponse> DuplexStreaming<TRequest, TResponse>(Method<TRequest, TResponse> method, CallOptions options = default)
        where TRequest : class, IMessage<TRequest> where TResponse : class, IMessage<TResponse> =>
        new ClientCall<TRequest, TResponse>(this, method, options, singleRequest: null);

    public void Dispose() => _invoker.Dispose();
}
