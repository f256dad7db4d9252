using System.Buffers;
using System.IO.Pipelines;

namespace Weft.Proxy.Listeners;

/// <summary>
/// Looks at a connection's first bytes without consuming them, until a decision or a deadline, so
/// whatever serves the connection next (HTTP, the TCP forwarder, the TLS upstream) reads them again
/// byte for byte. Protocol detection and SNI routing both peek this way.
/// </summary>
/// <remarks>
/// After a decision the bytes are immediately readable again (the decision always follows new bytes).
/// After a timeout, bytes that arrived before the window ended are still in the pipe but already
/// examined, which a Pipe cannot undo: the next reader must not wait for new ones (see
/// <see cref="TcpForwarder"/>, the only reader after a timeout).
/// </remarks>
internal static class PipePeek
{
    /// <param name="decide">
    /// The decision from the bytes so far (and whether the client finished sending), or null for
    /// "need more bytes". Null once the window ends means a timeout.
    /// </param>
    public static async ValueTask<T?> PeekAsync<T>(PipeReader input, TimeSpan window, TimeProvider time,
        Func<ReadOnlySequence<byte>, bool, T?> decide) where T : struct
    {
        using var wait = new CancellationTokenSource(window, time);
        while (true)
        {
            ReadResult result;
            try
            {
                result = await input.ReadAsync(wait.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Bytes read before the window ended stay marked examined (a Pipe cannot take that back),
                // so the next ReadAsync waits for new bytes: a reader after a timeout primes its first
                // read (TcpForwarder) instead of waiting.
                return null;
            }
            var buffer = result.Buffer;
            var decision = decide(buffer, result.IsCompleted);
            // Decided, or the window ended as these bytes arrived (or the read was cancelled): nothing
            // consumed, nothing examined, so the next reader sees the same bytes at once.
            if (decision.HasValue || result.IsCanceled || wait.IsCancellationRequested)
            {
                input.AdvanceTo(buffer.Start);
                return decision;
            }
            input.AdvanceTo(buffer.Start, buffer.End);
        }
    }
}
