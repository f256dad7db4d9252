using Weft.Model.Resources;

namespace Weft.Control.Store;

/// <summary>
/// The durable, revisioned config. Every call is all-or-nothing, and a change is durable before the
/// call returns (and before <see cref="IConfigSource.Changed"/> fires). Kept narrow so another backend
/// (etcd) can sit behind it later. Changed fires in revision order while the writer is still held, so
/// a subscriber must hand work off rather than write to the store from inside the handler.
/// </summary>
public interface IConfigStore : IConfigSource
{
    /// <summary>Creates or replaces <paramref name="upserts"/>; everything unchanged makes no revision.</summary>
    Task<ChangeResult> ApplyAsync(IReadOnlyList<Resource> upserts, bool dryRun, CancellationToken cancellationToken = default);

    /// <summary>Removes <paramref name="keys"/>; an absent key fails the whole call unless <paramref name="ignoreMissing"/>.</summary>
    Task<ChangeResult> DeleteAsync(IReadOnlyList<ResourceKey> keys, bool dryRun, bool ignoreMissing = false, CancellationToken cancellationToken = default);

    /// <summary>Returns the config to <paramref name="revision"/> (default: the one before the latest) as a new revision.</summary>
    Task<ChangeResult> RollbackAsync(long? revision, CancellationToken cancellationToken = default);

    /// <summary>Every revision, oldest first.</summary>
    IReadOnlyList<RevisionInfo> History();

    /// <summary>Current resources, filtered by canonical kind, namespace and name (null = any), sorted by key.</summary>
    IReadOnlyList<Resource> Get(string? kind = null, string? ns = null, string? name = null);
}
