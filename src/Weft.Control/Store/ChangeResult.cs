using Weft.Model.Resources;

namespace Weft.Control.Store;

/// <summary>What one call did (or, on a dry run, would do) to one resource.</summary>
public enum ChangeAction { Created, Configured, Unchanged, Deleted }

public static class ChangeActionNames
{
    /// <summary>The lower-case word users see (kubectl's): created, configured, unchanged, deleted.</summary>
    public static string ToDisplayName(this ChangeAction action) => action switch
    {
        ChangeAction.Created => "created",
        ChangeAction.Configured => "configured",
        ChangeAction.Unchanged => "unchanged",
        ChangeAction.Deleted => "deleted",
        _ => throw new ArgumentOutOfRangeException(nameof(action)),
    };
}

public sealed record ResourceChange(string ApiVersion, ResourceKey Key, ChangeAction Action);

/// <summary>Why a store call was refused; nothing was stored.</summary>
public enum StoreErrorCode
{
    /// <summary>A resource to delete does not exist.</summary>
    NotFound,
    /// <summary>The same resource appears twice in one call.</summary>
    Duplicate,
    /// <summary>Rollback to a revision the store does not have.</summary>
    UnknownRevision,
}

public sealed record StoreError(StoreErrorCode Code, string Message);

/// <summary>
/// Outcome of apply, delete or rollback. <see cref="Revision"/> is the new revision when
/// <see cref="NewRevision"/>, otherwise the current one (a dry run, a no-op, or an error).
/// </summary>
public sealed record ChangeResult(long Revision, bool NewRevision, bool DryRun, IReadOnlyList<ResourceChange> Changes, StoreError? Error)
{
    public bool Ok => Error is null;

    internal static ChangeResult Failed(long revision, StoreErrorCode code, string message) =>
        new(revision, false, false, [], new StoreError(code, message));
}

/// <summary>One accepted revision: when, what caused it ("apply", "delete", "rollback to N"), and what changed.</summary>
public sealed record RevisionInfo(long Revision, DateTimeOffset Time, string Cause, IReadOnlyList<ResourceChange> Changes, int ResourceCount);
