using Microsoft.Extensions.Logging;

namespace Weft.Proxy.Discovery;

internal static partial class DiscoveryClientLog
{
    [LoggerMessage(EventId = 300, Level = LogLevel.Information, Message = "Discovery stream to the control plane open as {ProxyId}")]
    public static partial void Connected(ILogger logger, string proxyId);

    [LoggerMessage(EventId = 301, Level = LogLevel.Information, Message = "Applied version {Version} (revision {Revision}, {Count} resources)")]
    public static partial void Applied(ILogger logger, string version, long revision, int count);

    [LoggerMessage(EventId = 302, Level = LogLevel.Warning, Message = "Rejected version {Version} (revision {Revision}), keeping {Kept}: {Reason}")]
    public static partial void Rejected(ILogger logger, string version, long revision, string kept, string reason);

    [LoggerMessage(EventId = 303, Level = LogLevel.Warning, Message = "Discovery stream lost ({Error}); serving the last config, reconnecting in {DelayMs} ms")]
    public static partial void Reconnecting(ILogger logger, string error, double delayMs);
}
