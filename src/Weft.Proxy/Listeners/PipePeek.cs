using System.Buffers;
using System.IO.Pipelines;

namespace Weft.Proxy.Listeners;

/// <summary>
/// Looks at a connection's first bytes without consuming them, until a decision or a deadline, so
/// whatever serves the connection next (HTTP, the TCP forwarder, the TLS upstream) reads them again
/// byte for byte. Protocol detection and SNI routing both peek this way.
/// </summary>
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
                // What was read so far was marked examined: un-mark it, or the next reader would wait
                // for more bytes before seeing these.
                if (input.TryRead(out var pending))
                    input.AdvanceTo(pending.Buffer.Start);
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
