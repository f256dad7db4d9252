using Microsoft.Extensions.Logging;

namespace Weft.Control.Discovery;

internal static partial class DiscoveryLog
{
    [LoggerMessage(EventId = 200, Level = LogLevel.Information, Message = "Proxy {ProxyId} ({Service}) connected from {Peer}")]
    public static partial void Connected(ILogger logger, string proxyId, string service, string peer);

    [LoggerMessage(EventId = 201, Level = LogLevel.Information, Message = "Proxy {ProxyId} disconnected")]
    public static partial void Disconnected(ILogger logger, string proxyId);

    [LoggerMessage(EventId = 202, Level = LogLevel.Debug, Message = "Sent {ProxyId} version {Version} (revision {Revision}, full {Full}, {Changed} changed, {Removed} removed)")]
    public static partial void Sent(ILogger logger, string proxyId, string version, long revision, bool full, int changed, int removed);

    [LoggerMessage(EventId = 203, Level = LogLevel.Debug, Message = "Proxy {ProxyId} acknowledged version {Version} (revision {Revision})")]
    public static partial void Acked(ILogger logger, string proxyId, string version, long revision);

    [LoggerMessage(EventId = 204, Level = LogLevel.Warning, Message = "Proxy {ProxyId} rejected version {Version} (revision {Revision}): {Reason}")]
    public static partial void Nacked(ILogger logger, string proxyId, string version, long revision, string reason);

    [LoggerMessage(EventId = 205, Level = LogLevel.Debug, Message = "Proxy {ProxyId} sent a stale nonce {Nonce}; ignored")]
    public static partial void StaleNonce(ILogger logger, string proxyId, string nonce);

    [LoggerMessage(EventId = 206, Level = LogLevel.Warning, Message = "Discovery stream of {ProxyId} failed")]
    public static partial void StreamFailed(ILogger logger, string proxyId, Exception exception);

    [LoggerMessage(EventId = 207, Level = LogLevel.Warning, Message = "Discovery stream of {ProxyId} from {Peer} refused: {Reason}")]
    public static partial void Refused(ILogger logger, string proxyId, string peer, string reason);
}
