using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Weft.Proxy.Telemetry;

namespace Weft.Proxy.Security.Authorization;

/// <summary>
/// Every refusal by authorization, whatever refused it (STRICT mTLS, a DENY, no matching ALLOW) and
/// wherever (a request in the pipeline, a TCP connection as it opens): counted in
/// weft_authorization_denied_total, and logged, the first of each listener and reason, then at most one
/// a minute (a flood of denied requests must not become a flood of lines). The line says who asked for
/// what, so an operator sees why without guessing.
/// </summary>
internal sealed partial class AuthorizationRefusals(ProxyMetrics metrics, ILogger logger, TimeProvider time)
{
    private static readonly TimeSpan Every = TimeSpan.FromMinutes(1);

    private readonly ConcurrentDictionary<string, long> _last = new(StringComparer.Ordinal);

    /// <summary>What refused, as the 403's caller and the log read it.</summary>
    public static string Why(AuthorizationPolicyRuntime? deniedBy) =>
        deniedBy is null ? "no ALLOW AuthorizationPolicy matches" : "AuthorizationPolicy " + deniedBy.Name;

    /// <summary>A request on a STRICT port's plaintext connection (accepted while the port was PERMISSIVE).</summary>
    public void MtlsRequired(string listener, string protocol, string method, string path)
    {
        metrics.AuthorizationDenied("mtls_required", "", protocol);
        Log(listener, "STRICT mTLS (a request on a plaintext connection)", protocol, method, path, null);
    }

    /// <summary>Refused by the listener's AuthorizationPolicies: <paramref name="deniedBy"/> the DENY that matched, null when no ALLOW did.</summary>
    public void Denied(string listener, AuthorizationPolicyRuntime? deniedBy, string protocol, string method, string path, Mtls.PeerIdentity? caller)
    {
        metrics.AuthorizationDenied(deniedBy is null ? "no_allow_match" : "deny_policy", deniedBy?.Name ?? "", protocol);
        Log(listener, Why(deniedBy), protocol, method, path, caller);
    }

    private void Log(string listener, string why, string protocol, string method, string path, Mtls.PeerIdentity? caller)
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
