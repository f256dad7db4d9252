using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Weft.Proxy.Security.Authorization;

/// <summary>
/// A refusal by authorization, in the proxy's log: the first of each reason and policy, then at most one
/// a minute (a flood of denied requests must not become a flood of lines; every one is counted in
/// weft_authorization_denied_total). Says who asked for what, so an operator sees why without guessing.
/// </summary>
internal sealed partial class DenialLog(ILogger logger, TimeProvider time)
{
    private static readonly TimeSpan Every = TimeSpan.FromMinutes(1);

    private readonly ConcurrentDictionary<string, long> _last = new(StringComparer.Ordinal);

    /// <param name="why">The policy's name, or what refused ("no ALLOW policy matches", "STRICT mTLS").</param>
    public void Denied(string listener, string why, string protocol, string method, string path, Mtls.PeerIdentity? caller)
    {
        if (!logger.IsEnabled(LogLevel.Information))
            return;
        var now = time.GetTimestamp();
        var key = listener + "\n" + why;
        if (_last.TryGetValue(key, out var last) && time.GetElapsedTime(last, now) < Every)
            return;
        _last[key] = now;
        LogDenied(logger, protocol, method, path, caller?.Uri ?? "a plaintext caller", listener, why);
    }

    [LoggerMessage(EventId = 700, Level = LogLevel.Information,
        Message = "Denied {Protocol} {Method} {Path} from {Caller} on {Listener}: {Why} (more like it are counted in weft_authorization_denied_total and logged at most once a minute)")]
    private static partial void LogDenied(ILogger logger, string protocol, string method, string path, string caller, string listener, string why);
}
