using System.Buffers;
using System.Net;
using System.Runtime.CompilerServices;

namespace Weft.Proxy.Upstream;

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
    private CancellationTokenSource? _stop;       // the copy's token: the handler's, the client's abort, and StopAsync
    private Task? _copying;
    private volatile bool _stopping;

    public StreamingRequestContent(System.IO.Pipelines.PipeReader source, CancellationToken clientAborted)
    {
        _source = source.AsStream(leaveOpen: true);
        _clientAborted = clientAborted;
    }

    public bool Started => Volatile.Read(ref _started) != 0;

    /// <summary>Set when reading the client's body failed (RequestBodyFailed rather than an upstream fault).</summary>
    public bool ClientReadFailed { get; private set; }

    public Exception? ClientReadError { get; private set; }

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
        SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _started, 1) != 0)
            throw new InvalidOperationException("The request body can be sent only once.");
        _stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _clientAborted);
        var copying = CopyAsync(stream, _stop.Token, cancellationToken);
        Volatile.Write(ref _copying, copying);
        return copying;
    }

    /// <summary>
    /// Ends the copy before the request ends: cancels a read still waiting on the client and waits for
    /// it. Kestrel reuses an HTTP/2 stream's request-body pipe for a later request on the connection, and a
    /// read left pending on it (an upstream that answered before the client's END_STREAM) made that
    /// request fail with "Reading is already in progress" (seen as a grpc-js client stream answered 400).
    /// </summary>
    public async ValueTask StopAsync()
    {
        if (Volatile.Read(ref _copying) is not { } copying)
            return;
        if (!copying.IsCompleted)
            RequestStop();
        try
        {
            await copying.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or InvalidOperationException or ObjectDisposedException)
        {
            // Recorded by the send that failed, or moot: the exchange is over.
        }
    }

    /// <summary>Cancels a read waiting on the client, marked as ours (not the client's failure, not the upstream's).</summary>
    private void RequestStop()
    {
        _stopping = true;
        _stop!.Cancel();
    }

    private async Task CopyAsync(Stream stream, CancellationToken token, CancellationToken upstream)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            var first = true;
            while (true)
            {
#pragma warning disable CA2012 // awaited once, below (also when the flush fails)
                var reading = ReadClientAsync(buffer.AsMemory(), token, upstream);
#pragma warning restore CA2012
                if (first && !reading.IsCompleted)
                {
                    // The handler holds the request head back until the body's first write, to send both
                    // together. With no body at hand that deadlocks a client that waits for the response
                    // head before it sends (a gRPC stream, any duplex exchange): send the head now. This
                    // is the upstream's side: its failure is not the client's, and the read is ended
                    // (cancelled and awaited) before the failure goes up, so no read outlives the copy.
                    try
                    {
                        await stream.FlushAsync(token).ConfigureAwait(false);
                    }
                    catch
                    {
                        RequestStop();
                        try
                        {
                            await reading.ConfigureAwait(false);
                        }
                        catch (Exception ex) when (ex is OperationCanceledException or IOException or InvalidOperationException)
                        {
                            // The flush's failure is the one that counts.
                        }
                        throw;
                    }
                }
                first = false;
                int read;
                try
                {
                    read = await reading.ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (_stopping && !_clientAborted.IsCancellationRequested)
                {
                    // StopAsync: the upstream already answered in full. Ending the body here closes its
                    // stream cleanly; failing would reset it, and an upstream counts resets (Kestrel's
                    // rapid-reset guard sent GOAWAY after ~200 early answers on one connection).
                    break;
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
        ex is OperationCanceledException && (upstream.IsCancellationRequested || _stopping) && !_clientAborted.IsCancellationRequested;

    protected override void Dispose(bool disposing)
    {
        if (disposing)
            _stop?.Dispose();
        base.Dispose(disposing);
    }

    protected override bool TryComputeLength(out long length)
    {
        // Content-Length, when the client sent one, is copied as a header; otherwise chunked / h2 DATA frames.
        length = -1;
        return false;
    }

    protected override Task<Stream> CreateContentReadStreamAsync() =>
        throw new NotSupportedException("The proxied request body is write-only.");
}
