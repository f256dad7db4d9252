using System.Text.Json;
using System.Text.Json.Nodes;
using Weft.Control.Discovery;
using Weft.Control.Store;
using Weft.Control.Workloads;
using Weft.Model.Parsing;

namespace Weft.Control.Api;

// The JSON shapes of /api/v1, shared by the server and the `weft` CLI so the two cannot drift.

/// <summary>One user file, sent verbatim so the server's errors carry its name and lines.</summary>
public sealed record ApiFile(string Name, string Content);

/// <summary>Body of POST /apply and POST /delete.</summary>
public sealed record ApplyRequest(IReadOnlyList<ApiFile>? Files, bool DryRun = false, bool IgnoreMissing = false);

/// <summary>Body of POST /rollback; a null revision means the one before the latest.</summary>
public sealed record RollbackRequest(long? Revision);

/// <summary>Body of POST /tokens: the service account a new bootstrap token proves.</summary>
public sealed record TokenRequest(string? Namespace, string? ServiceAccount);

/// <summary>Answer to POST /tokens: the token (shown once; only its hash is kept) and the identity it obtains.</summary>
public sealed record TokenResponse(string Token, string SpiffeId);

/// <summary>Every 4xx but 422.</summary>
public sealed record ApiError(string Error);

/// <summary>422: the input is invalid; nothing was stored.</summary>
public sealed record ValidationErrorsResponse(IReadOnlyList<ValidationError> Errors);

public sealed record ApiChange(string ApiVersion, string Kind, string Namespace, string Name, string Action)
{
    internal static ApiChange From(ResourceChange c) => new(c.ApiVersion, c.Key.Kind, c.Key.Namespace, c.Key.Name, c.Action.ToDisplayName());
}

/// <summary>Answer to apply, delete and rollback. NewRevision is false for a dry run or when nothing changed.</summary>
public sealed record ChangeResponse(long Revision, bool NewRevision, bool DryRun, IReadOnlyList<ApiChange> Changes)
{
    internal static ChangeResponse From(ChangeResult r) => new(r.Revision, r.NewRevision, r.DryRun, r.Changes.Select(ApiChange.From).ToList());
}

/// <summary>GET /resources: canonical Kubernetes-shaped resources.</summary>
public sealed record ResourceListResponse(long Revision, IReadOnlyList<JsonObject> Items);

public sealed record RevisionEntry(long Revision, DateTimeOffset Time, string Cause, int ResourceCount, IReadOnlyList<ApiChange> Changes);

public sealed record HistoryResponse(long Revision, IReadOnlyList<RevisionEntry> Revisions);

public sealed record RevisionResponse(long Revision);

public sealed record ProxiesResponse(long Revision, IReadOnlyList<ProxyStatus> Proxies);

/// <summary>GET /sync: Synced when every connected proxy acked Revision; Pending lists the others.</summary>
public sealed record SyncResponse(long Revision, bool Synced, IReadOnlyList<ProxyStatus> Pending);

/// <summary>Body of PUT /workloads: everything <paramref name="Launcher"/> runs now, replacing its previous report.</summary>
/// <param name="Draining">Instances whose endpoints are to leave every proxy's config while this launcher says so.</param>
/// <param name="Actions">The launcher's word on the actions it took (state, message), by id.</param>
public sealed record WorkloadsReport(string Launcher, IReadOnlyList<WorkloadProcess> Processes,
    IReadOnlyList<string>? Draining = null, IReadOnlyList<WorkloadAction>? Actions = null);

/// <summary>
/// GET /workloads: every launcher's latest report (launchers silent for a while are left out) and the
/// actions known. The answer to PUT /workloads: the stored report, and the actions for that launcher to take.
/// </summary>
public sealed record WorkloadsResponse(IReadOnlyList<LauncherReport> Launchers, IReadOnlyList<WorkloadAction>? Actions = null);

public static class ApiJson
{
    /// <summary>camelCase, case-insensitive on read: the options both ends use.</summary>
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web) { WriteIndented = true };
}

/// <summary>GET /api/v1/ca and POST /api/v1/ca/rotate: the CA's roots, what it issues under, and a rotation's progress.</summary>
public sealed record CaStatusResponse(
    string TrustDomain,
    IReadOnlyList<CaCertificateInfo> Roots,
    CaCertificateInfo Intermediate,
    string IssuerRootSha256,
    long BundleGeneration,
    CaRotationInfo Rotation,
    bool OwnsRoot);   // Weft made the root (weft ca rotate can rotate it); false: the operator's

/// <summary>One CA certificate: its SHA-256 (lower-case hex of the DER), subject and validity.</summary>
public sealed record CaCertificateInfo(string Sha256, string Subject, DateTimeOffset NotBefore, DateTimeOffset NotAfter);

/// <param name="Phase">none, distributing, switching or reissuing.</param>
/// <param name="WaitingForProxies">distributing: the connected proxies that have not applied the bundle with the new root.</param>
/// <param name="LiveUnderOldRoot">reissuing: the holders whose newest certificate still chains to the old root.</param>
public sealed record CaRotationInfo(
    string Phase,
    string? OldRoot,
    string? NewRoot,
    DateTimeOffset? StartedAt,
    DateTimeOffset? SwitchedAt,
    DateTimeOffset? FinishedAt,
    IReadOnlyList<string> WaitingForProxies,
    IReadOnlyList<CaLiveCertificate> LiveUnderOldRoot);

public sealed record CaLiveCertificate(string Holder, DateTimeOffset NotAfter);
