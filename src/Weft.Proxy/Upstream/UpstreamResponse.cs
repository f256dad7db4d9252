using System.IO.Pipelines;
using Weft.Proxy.Pipeline;

namespace Weft.Proxy.Upstream;

/// <summary>
/// An upstream's answer to one request, as the cluster client hands it to the pipeline once its head
/// arrived: the head (which the route's response modifiers edit), the decoded body, trailers after the
/// body, or the raw connection after a 101. The pipeline copies it to the client and then finishes it.
/// </summary>
internal abstract class UpstreamResponse
{
    public abstract ResponseHead Head { get; }

    /// <summary>The body as decoded bytes; null when the answer has none (or is a 101).</summary>
    public abstract PipeReader? Body { get; }

    /// <summary>
    /// After a 101: the upstream connection, now a tunnel (spliced by the pipeline, then finished). It is
    /// the <see cref="UpstreamTransport"/> itself: the splice resets it when the client's side fails.
    /// </summary>
    public abstract IDuplexPipe? Upgraded { get; }

    /// <summary>Trailers that came after the body (HTTP/2: gRPC's grpc-status); null when none.</summary>
    public abstract HeaderView? Trailers { get; }

    /// <summary>grpc-status from the head or the trailers ("" when none); read after the body.</summary>
    public abstract string GrpcStatus { get; }

    /// <summary>
    /// Ends the exchange once the pipeline is done with the answer (<paramref name="body"/>: how copying
    /// its body ended): the request body's copy is finished or stopped, and the connection is pooled again
    /// or closed (reset when the exchange was cut short).
    /// </summary>
    public abstract ValueTask FinishAsync(CopyStatus body);
}
