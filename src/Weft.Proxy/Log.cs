using Microsoft.Extensions.Logging;

namespace Weft.Proxy;

/// <summary>Every log line of the data plane, source-generated so a disabled level costs nothing.</summary>
internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Information, "Applied config revision {Revision} (version {Version}): {Listeners} listeners, {Clusters} clusters")]
    public static partial void ConfigApplied(ILogger logger, long revision, string version, int listeners, int clusters);

    [LoggerMessage(2, LogLevel.Warning, "Rejected config revision {Revision} (version {Version}): {Reason}")]
    public static partial void ConfigRejected(ILogger logger, long revision, string version, string reason);

    [LoggerMessage(3, LogLevel.Information, "Listener {Address}:{Port} opened")]
    public static partial void ListenerOpened(ILogger logger, string address, int port);

    [LoggerMessage(4, LogLevel.Information, "Listener {Address}:{Port} draining")]
    public static partial void ListenerDraining(ILogger logger, string address, int port);

    [LoggerMessage(5, LogLevel.Warning, "Listener {Address}:{Port} did not stop cleanly")]
    public static partial void ListenerStopFailed(ILogger logger, string address, int port, Exception exception);

    [LoggerMessage(6, LogLevel.Debug, "Forwarding to {Endpoint} failed: {Result}")]
    public static partial void ForwardFailed(ILogger logger, string endpoint, Pipeline.ResponseFlag result, Exception? exception);

    [LoggerMessage(7, LogLevel.Information, "Admin endpoint listening on {Address}")]
    public static partial void AdminListening(ILogger logger, string address);

    [LoggerMessage(8, LogLevel.Information, "Proxy stopping, draining for up to {DrainTimeout}")]
    public static partial void Stopping(ILogger logger, TimeSpan drainTimeout);

    [LoggerMessage(9, LogLevel.Warning, "Config accepted with a warning: {Warning}")]
    public static partial void ConfigWarning(ILogger logger, string warning);

    [LoggerMessage(10, LogLevel.Warning, "TCP connection on port {Port} to cluster {Cluster} failed")]
    public static partial void TcpForwardFailed(ILogger logger, int port, string cluster, Exception exception);

    [LoggerMessage(12, LogLevel.Debug, "Idle: gave memory back to the OS, GC committed {BeforeMb} MB -> {AfterMb} MB")]
    public static partial void MemoryTrimmed(ILogger logger, long beforeMb, long afterMb);

    [LoggerMessage(13, LogLevel.Warning, "A connection was reset because code run for it threw; the proxy goes on (counted in weft_transport_handler_failures_total, logged once)")]
    public static partial void TransportHandlerFailed(ILogger logger, Exception exception);

    [LoggerMessage(11, LogLevel.Warning, "HTTP/2 connection from {Remote} on port {Port} closed: the client reset {Resets} of its {Streams} streams before their answer (rapid reset)")]
    public static partial void ResetFloodClosed(ILogger logger, string remote, int port, int resets, int streams);
}
