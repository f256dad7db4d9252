using Microsoft.Extensions.Logging;

namespace Weft.Protocol.Grpc;

internal static partial class ServerLog
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Error, Message = "gRPC handler for {Method} failed")]
    public static partial void HandlerFailed(ILogger logger, string method, Exception exception);
}
