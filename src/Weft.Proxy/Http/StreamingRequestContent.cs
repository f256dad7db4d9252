using System.Buffers;
using System.Net;
using System.Runtime.CompilerServices;

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
        var readStillPending = false;
        try
        {
            var first = true;
            while (true)
            {
#pragma warning disable CA2012 // awaited once, below (a flush that throws abandons it: it ends with the request)
                var reading = ReadClientAsync(buffer.AsMemory(), token, cancellationToken);
#pragma warning restore CA2012
                if (first && !reading.IsCompleted)
                {
                    // The handler holds the request head back until the body's first write, to send both
                    // together. With no body at hand that deadlocks a client that waits for the response
                    // head before it sends (a gRPC stream, any duplex exchange): send the head now. This
                    // is the upstream's side: its failure is not the client's.
                    try
                    {
                        await stream.FlushAsync(token).ConfigureAwait(false);
                    }
                    catch
                    {
                        readStillPending = true;
                        throw;
                    }
                }
                first = false;
                var read = await reading.ConfigureAwait(false);
                if (read == 0)
                    break;
                await stream.WriteAsync(buffer.AsMemory(0, read), token).ConfigureAwait(false);
                // Streams (gRPC, long uploads) must not sit in a buffer waiting for more.
                await stream.FlushAsync(token).ConfigureAwait(false);
            }
        }
        finally
        {
            // An abandoned read may still fill the buffer: then it is the GC's, never the pool's again.
            if (!readStillPending)
                ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>A read of the client's body; its failure is recorded as the client's unless the upstream gave up first.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<int> ReadClientAsync(Memory<byte> buffer, CancellationToken token, CancellationToken upstream)
    {
        try
        {
            return await _source.ReadAsync(buffer, token).ConfigureAwait(false);
        }
        catch (Exception ex) when (!UpstreamGaveUp(ex, upstream))
        {
            ClientReadFailed = true;
            ClientReadError = ex;
            throw;
        }
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
