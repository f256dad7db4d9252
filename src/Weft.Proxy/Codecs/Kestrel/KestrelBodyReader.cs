using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Http;
using Weft.Proxy.Pipeline;

namespace Weft.Proxy.Codecs.Kestrel;

/// <summary>
/// A request body as Kestrel parses it, its failures told in the pipeline's words: a body Kestrel
/// refuses as malformed (a broken chunk, a body cut short: its 400s) is a
/// <see cref="MalformedBodyException"/>, as on the lean codec, so the upstream exchange ends and the
/// client gets <c>400 request_body_failed</c>, whatever the upstream's protocol. Other failures (its
/// data-rate 408, a reset) pass as they are.
/// </summary>
internal sealed class KestrelBodyReader(PipeReader inner) : PipeReader
{
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
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
