using System.Buffers;
using System.Net;
using Google.Protobuf;

namespace Weft.Protocol.Grpc;

/// <summary>
/// The request body of a call. SocketsHttpHandler asks for it once the HEADERS frame is out; for
/// streaming calls it hands the HTTP/2 stream to the call's writer and stays open (so the response can
/// be read while requests are still being sent) until the writer half-closes or the call ends.
/// </summary>
internal sealed class RequestContent : HttpContent
{
    private readonly IMessage? _singleMessage;
    private readonly TaskCompletionSource<Stream> _stream = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _completed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public RequestContent(IMessage? singleMessage)
    {
        _singleMessage = singleMessage;
        Headers.TryAddWithoutValidation("Content-Type", GrpcHeaders.ContentType);
    }

    /// <summary>The HTTP/2 request stream, once the handler started sending the body.</summary>
    public Task<Stream> Stream => _stream.Task;

    /// <summary>Half-close: the body ends and the handler sends END_STREAM.</summary>
    public void Complete() => _completed.TrySetResult();

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
        SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        if (_singleMessage is not null)
        {
            // Unary and server-streaming: the whole body is one frame, written and half-closed at once.
            byte[] frame = MessageFraming.RentFrame(_singleMessage, int.MaxValue, out int length);
            try
            {
                await stream.WriteAsync(frame.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(frame);
            }
            return;
        }
        _stream.TrySetResult(stream);
        try
        {
            await _completed.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // The handler cancels the body when the response ended first; the call already has its status.
        }
    }

    protected override bool TryComputeLength(out long length)
    {
        length = -1;
        return false;
    }

    protected override void Dispose(bool disposing)
    {
        _completed.TrySetResult();
        base.Dispose(disposing);
    }
}
