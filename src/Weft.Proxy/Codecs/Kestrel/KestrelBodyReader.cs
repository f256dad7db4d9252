using Weft.Proxy.Memory;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Http;
using Weft.Proxy.Pipeline;

namespace Weft.Proxy.Codecs.Kestrel;

/// <summary>
/// A request body as Kestrel parses it, its failures told in the pipeline's words: a body Kestrel
/// refuses with a 400 is a <see cref="MalformedBodyException"/>, so the upstream exchange ends and the
/// client gets <c>400 request_body_failed</c>, whatever the upstream's protocol. Kestrel's 400s do not
/// tell a broken chunk from a body its client cut short with a FIN (the lean codec counts the latter
/// as the client leaving); both get the 400, as Kestrel answers them itself. Other failures (its
/// data-rate 408, a reset) pass as they are.
/// </summary>
internal sealed class KestrelBodyReader(PipeReader inner) : PipeReader
{
    [AsyncMethodBuilder(typeof(DeepPoolingBuilder<>))]
    public override async ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            return await inner.ReadAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status400BadRequest)
        {
            throw new MalformedBodyException(ex.Message);
        }
    }

    public override bool TryRead(out ReadResult result)
    {
        try
        {
            return inner.TryRead(out result);
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status400BadRequest)
        {
            throw new MalformedBodyException(ex.Message);
        }
    }

    public override void AdvanceTo(SequencePosition consumed) => inner.AdvanceTo(consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined) => inner.AdvanceTo(consumed, examined);

    public override void CancelPendingRead() => inner.CancelPendingRead();

    public override void Complete(Exception? exception = null) => inner.Complete(exception);

    public override ValueTask CompleteAsync(Exception? exception = null) => inner.CompleteAsync(exception);
}
