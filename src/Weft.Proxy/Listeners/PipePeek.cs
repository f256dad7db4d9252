using System.Buffers;
using System.IO.Pipelines;

namespace Weft.Proxy.Listeners;

/// <summary>
/// Looks at a connection's first bytes without consuming them, until a decision or a deadline, so
/// whatever serves the connection next (HTTP, the TCP forwarder, the TLS upstream) reads them again
/// byte for byte. Protocol detection and SNI routing both peek this way.
/// </summary>
/// <remarks>
/// The deadline wakes the read with <see cref="PipeReader.CancelPendingRead"/> (a read result with
/// IsCanceled, its bytes intact), not a cancellation token: a token firing as bytes arrive can leave
/// the pipe holding them back from the next reader.
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
        var deadline = new Deadline(input);
        using (var timer = time.CreateTimer(static s => ((Deadline)s!).Fire(), deadline, window, Timeout.InfiniteTimeSpan))
        {
            while (true)
            {
                var result = await input.ReadAsync().ConfigureAwait(false);
                var buffer = result.Buffer;
                var decision = decide(buffer, result.IsCompleted);
                if (decision.HasValue || result.IsCanceled)
                {
                    // Nothing consumed, nothing examined: the next reader sees the same bytes at once.
                    input.AdvanceTo(buffer.Start);
                    if (deadline.Finish())
                        ConsumeLateCancel(input);
                    return decision;
                }
                input.AdvanceTo(buffer.Start, buffer.End);
            }
        }
    }

    // The deadline fired after our last read returned: its cancel is pending and would wake the next
    // reader with a spurious IsCanceled. Take it here (TryRead returns it), leaving the bytes unexamined.
    private static void ConsumeLateCancel(PipeReader input)
    {
        if (input.TryRead(out var pending))
            input.AdvanceTo(pending.Buffer.Start);
    }

    private sealed class Deadline(PipeReader input)
    {
        private readonly Lock _gate = new();
        private bool _finished;
        private bool _fired;

        public void Fire()
        {
            lock (_gate)
            {
                if (_finished) return;
                _fired = true;
                input.CancelPendingRead();
            }
        }

        /// <summary>Stops the deadline; true when it had fired (a cancel may still be pending).</summary>
        public bool Finish()
        {
            lock (_gate)
            {
                _finished = true;
                return _fired;
            }
        }
    }
}
