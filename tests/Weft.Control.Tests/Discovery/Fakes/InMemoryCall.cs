using System.Threading.Channels;
using Weft.Protocol.Grpc;

namespace Weft.Tests.Fakes;

/// <summary>One direction of a call: an unbounded channel that both sides see through the transport interfaces.</summary>
internal sealed class MessagePipe<T> : IMessageReader<T>, IClientMessageWriter<T> where T : class
{
    private readonly Channel<T> _channel = Channel.CreateUnbounded<T>();

    public async ValueTask<T?> ReadAsync(CancellationToken cancellationToken = default)
    {
        while (await _channel.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
        {
            if (_channel.Reader.TryRead(out var message)) return message;
        }
        return null;
    }

    public ValueTask WriteAsync(T message, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (!_channel.Writer.TryWrite(message)) throw new RpcException(StatusCode.Unavailable, "stream closed");
        return default;
    }

    public ValueTask CompleteAsync()
    {
        Close();
        return default;
    }

    public void Close() => _channel.Writer.TryComplete();

    /// <summary>Ends the direction with an error: the reader throws it (a broken connection).</summary>
    public void Fail(Exception error) => _channel.Writer.TryComplete(error);

    public bool TryTake(out T message) => _channel.Reader.TryRead(out message!);

    /// <summary>The next message; fails the test if none arrives (a guard against hangs, not a way to wait for time).</summary>
    public async Task<T> NextAsync()
    {
        using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var message = await ReadAsync(guard.Token).ConfigureAwait(false);
        return message ?? throw new InvalidOperationException("the stream ended");
    }
}

internal sealed class FakeCallContext(CancellationToken cancellationToken, IReadOnlyDictionary<string, string>? headers = null, string peer = "127.0.0.1:50000",
    System.Security.Cryptography.X509Certificates.X509Certificate2? peerCertificate = null) : IServerCallContext
{
    public System.Security.Cryptography.X509Certificates.X509Certificate2? PeerCertificate { get; } = peerCertificate;
    public string Method => "/weft.discovery.v1.Discovery/Stream";
    public DateTimeOffset? Deadline => null;
    public CancellationToken CancellationToken { get; } = cancellationToken;
    public string Peer { get; } = peer;
    public IReadOnlyDictionary<string, string> RequestHeaders { get; } = headers ?? new Dictionary<string, string>();
}

/// <summary>
/// A duplex call over two in-memory pipes. The client half is the IStreamingCall; a test (or a real server
/// handler, through <see cref="Serve"/>) plays the server with <see cref="Requests"/> and <see cref="Responses"/>.
/// </summary>
internal sealed class InMemoryCall<TRequest, TResponse> : IStreamingCall<TRequest, TResponse>
    where TRequest : class where TResponse : class
{
    private readonly CancellationTokenSource _cancel = new();
    private readonly TaskCompletionSource<Status> _status = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public MessagePipe<TRequest> Requests { get; } = new();
    public MessagePipe<TResponse> Responses { get; } = new();
    public IServerCallContext ServerContext => new FakeCallContext(_cancel.Token);
    public Task? Handler { get; private set; }

    public IClientMessageWriter<TRequest> RequestStream => Requests;
    public IMessageReader<TResponse> ResponseStream => Responses;
    public Task<Status> StatusAsync => _status.Task;

    /// <summary>Runs a real server handler on the server half, ending the response direction the way the transport would.</summary>
    public InMemoryCall<TRequest, TResponse> Serve(Func<IMessageReader<TRequest>, IMessageWriter<TResponse>, IServerCallContext, Task> handler)
    {
        Handler = Task.Run(async () =>
        {
            try
            {
                await handler(Requests, Responses, ServerContext);
                EndWith(Status.Ok);
            }
            catch (RpcException e)
            {
                EndWith(e.Status);
            }
            catch (OperationCanceledException)
            {
                EndWith(new Status(StatusCode.Cancelled, "cancelled"));
            }
            catch (Exception e)
            {
                EndWith(new Status(StatusCode.Unknown, e.Message));
            }
        });
        return this;
    }

    /// <summary>The server ends the call with <paramref name="status"/>; a non-OK status makes the client's read throw.</summary>
    public void EndWith(Status status)
    {
        if (status.Code == StatusCode.OK) Responses.Close();
        else Responses.Fail(new RpcException(status));
        _status.TrySetResult(status);
    }

    /// <summary>The connection drops: both sides see the call end.</summary>
    public void Break()
    {
        _cancel.Cancel();
        Requests.Fail(new RpcException(StatusCode.Unavailable, "connection lost"));
        Responses.Fail(new RpcException(StatusCode.Unavailable, "connection lost"));
        _status.TrySetResult(new Status(StatusCode.Unavailable, "connection lost"));
    }

    public void Cancel()
    {
        _cancel.Cancel();
        Requests.Fail(new RpcException(StatusCode.Cancelled, "cancelled"));
        Responses.Fail(new RpcException(StatusCode.Cancelled, "cancelled"));
        _status.TrySetResult(new Status(StatusCode.Cancelled, "cancelled"));
    }

    public ValueTask DisposeAsync()
    {
        if (!_status.Task.IsCompleted) Cancel();
        return default;
    }
}
