using System.Diagnostics;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Weft.Proxy.Telemetry;

namespace Weft.Proxy.Codecs.Kestrel;

/// <summary>
/// Rapid reset (CVE-2023-44487) as a proxy meets it. Kestrel refuses streams past the concurrency
/// limit and calms a client whose reset streams pile up unfinished; but the proxy finishes a reset
/// stream at once (its upstream call is cancelled), so a client that opens streams, lets them reach
/// the app and resets them a moment later trips neither: each reset frees its slot, and the app gets
/// work at whatever rate the client sends. So, per h2 connection, as Envoy does: a stream the client
/// resets within a second, before its answer is complete, is premature; once at least
/// MaxConcurrentStreams of them make half or more of the connection's streams, the connection gets
/// GOAWAY and closes, and is aborted if the client goes on resetting. A client may cancel all it has
/// in flight at once, or a fair share of its calls all along, without ever meeting this.
/// </summary>
internal sealed class Http2ResetGuard
{
    private static readonly long PrematureWithinTicks = Stopwatch.Frequency;

    private readonly int _threshold;
    private readonly ProxyMetrics _metrics;
    private readonly ILogger _logger;

    public Http2ResetGuard(Http2ListenerLimits limits, ProxyMetrics metrics, ILogger logger)
    {
        _threshold = limits.MaxConcurrentStreams;
        _metrics = metrics;
        _logger = logger;
    }

    /// <summary>Gives an h2 connection its count, before Kestrel serves it; its requests find it among their features.</summary>
    public void Attach(ConnectionContext connection, int port) => connection.Features.Set(new Budget(this, connection, port));

    /// <summary>One HTTP/2 request done: <paramref name="clientAborted"/> when the client reset it before its answer was complete.</summary>
    public static void OnStreamEnded(HttpContext context, bool clientAborted, long elapsedTicks) =>
        context.Features.Get<Budget>()?.OnStreamEnded(clientAborted && elapsedTicks < PrematureWithinTicks);

    internal sealed class Budget(Http2ResetGuard guard, ConnectionContext connection, int port)
    {
        private int _streams;
        private int _premature;
        private int _closing;

        /// <summary>The budget tripped: the connection is being closed as a flood.</summary>
        public bool Closing => Volatile.Read(ref _closing) != 0;

        public void OnStreamEnded(bool premature)
        {
            var streams = Interlocked.Increment(ref _streams);
            if (!premature)
                return;
            var resets = Interlocked.Increment(ref _premature);
            if (resets >= guard._threshold && resets * 2 >= streams)
                Close(resets, streams);
        }

        // Cold: once per flooding connection, then only if the client ignores the GOAWAY.
        private void Close(int resets, int streams)
        {
            // A client that drops its connection aborts every stream in flight: that is no flood.
            try
            {
                if (connection.ConnectionClosed.IsCancellationRequested)
                    return;
            }
            catch (ObjectDisposedException)
            {
                return;                    // gone already
            }
            if (Interlocked.Exchange(ref _closing, 1) == 0)
            {
                guard._metrics.ResetFloodClosed(port);
                Log.ResetFloodClosed(guard._logger, connection.RemoteEndPoint?.ToString() ?? "?", port, resets, streams);
                // Kestrel's graceful close: GOAWAY, then the connection ends as soon as no stream is open.
                connection.Features.Get<IConnectionLifetimeNotificationFeature>()?.RequestClose();
            }
            else if (resets >= 2 * guard._threshold)
            {
                connection.Abort(new ConnectionAbortedException("HTTP/2 reset flood"));
            }
        }
    }
}
