using System.Buffers;
using System.Net;

namespace Weft.Proxy.Http;

/// <summary>
/// The client's request body, copied to the upstream as it arrives (never buffered whole). Records
/// whether copying started (then a retry is unsafe) and which side failed.
/// </summary>
internal sealed class StreamingRequestContent : HttpContent
{
    internal const int BufferSize = 32 * 1024;

    private readonly Stream _source;
    private readonly CancellationToken _clientAborted;
    private int _started;

    public StreamingRequestContent(Stream source, CancellationToken clientAborted)
    {
        _source = source;
        _clientAborted = clientAborted;
    }

    public bool Started => Volatile.Read(ref _started) != 0;

    /// <summary>Set when reading the client's body failed (RequestBodyFailed rather than an upstream fault).</summary>
    public bool ClientReadFailed { get; private set; }

    public Exception? ClientReadError { get; private set; }

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
        SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _started, 1) != 0)
            throw new InvalidOperationException("The request body can be sent only once.");
        using var linked = cancellationToken.CanBeCanceled && _clientAborted.CanBeCanceled
            ? CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _clientAborted)
            : null;
        var token = linked?.Token ?? (cancellationToken.CanBeCanceled ? cancellationToken : _clientAborted);
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            var first = true;
            while (true)
            {
                int read;
                try
                {
#pragma warning disable CA2012 // awaited exactly once: looked at (IsCompleted), then awaited here or as a Task
                    var pending = _source.ReadAsync(buffer.AsMemory(), token);
                    if (first && !pending.IsCompleted)
                        pending = await SendHeadWhileWaitingAsync(pending, stream, token).ConfigureAwait(false);
#pragma warning restore CA2012
                    first = false;
                    read = await pending.ConfigureAwait(false);
                }
                catch (Exception ex) when (!UpstreamGaveUp(ex, cancellationToken))
                {
                    ClientReadFailed = true;
                    ClientReadError = ex;
                    throw;
                }
                if (read == 0)
                    break;
                await stream.WriteAsync(buffer.AsMemory(0, read), token).ConfigureAwait(false);
                // Streams (gRPC, long uploads) must not sit in a buffer waiting for more.
                await stream.FlushAsync(token).ConfigureAwait(false);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// The handler holds the request head back until the body's first write, to send both together.
    /// When the client's body is not there yet that is a deadlock for a client that waits for the
    /// response head before it sends (a gRPC stream, any duplex exchange): flush the head now. A body
    /// already at hand still leaves in the same packet as the head.
    /// </summary>
    private static async ValueTask<ValueTask<int>> SendHeadWhileWaitingAsync(ValueTask<int> pending, Stream upstream, CancellationToken token)
    {
        var reading = pending.AsTask();
        try
        {
            await upstream.FlushAsync(token).ConfigureAwait(false);
        }
        catch
        {
            // The read still ends (the token cancels it); nobody will await it now.
            _ = reading.ContinueWith(static t => _ = t.Exception, CancellationToken.None,
                TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            throw;
        }
        return new ValueTask<int>(reading);
    }

    /// <summary>
    /// The handler cancelled the send (the upstream reset the stream, answered early or its connection
    /// died) while this read waited on the client: the client's body was fine, the upstream failed.
    /// </summary>
    private bool UpstreamGaveUp(Exception ex, CancellationToken upstream) =>
        ex is OperationCanceledException && upstream.IsCancellationRequested && !_clientAborted.IsCancellationRequested;

    protected override bool TryComputeLength(out long length)
    {
        // Content-Length, when the client sent one, is copied as a header; otherwise chunked / h2 DATA frames.
        length = -1;
        return false;
    }

    protected override Task<Stream> CreateContentReadStreamAsync() =>
        throw new NotSupportedException("The proxied request body is write-only.");
}
