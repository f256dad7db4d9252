namespace Weft.Control.Discovery;

/// <summary>What the control plane knows of one proxy's sync (CONTRACT: `weft status`).</summary>
public sealed record ProxyStatus(
    string Id,
    string Service,
    string Version,
    string Namespace,
    string Role,                 // sidecar | gateway
    string Address,
    string AdminUrl,
    bool Connected,
    DateTimeOffset ConnectedAt,
    long RevisionSent,
    DateTimeOffset? SentAt,
    long RevisionAcked,
    DateTimeOffset? AckedAt,
    long RevisionNacked,
    string? NackReason,
    DateTimeOffset? NackedAt,
    string SyncState,            // SYNCED | STALE | NACKED: reason | DISCONNECTED
    string? SpiffeId = null,     // the identity of the workload certificate the CA last issued to this proxy
    DateTimeOffset? CertificateNotAfter = null,
    long TrustBundleGeneration = 0, // the generation of the trust bundle this proxy last applied (a root rotation waits for it)
    DateTimeOffset? CertificateNotBefore = null);

/// <summary>Read side of per-proxy sync records, for the HTTP API and `weft status`.</summary>
public interface IProxyStatusView
{
    IReadOnlyList<ProxyStatus> Proxies { get; }
}
