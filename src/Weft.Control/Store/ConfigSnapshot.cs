using System.Collections.Immutable;
using Weft.Model.Resources;

namespace Weft.Control.Store;

/// <summary>The whole accepted config at one revision. Immutable; a new one is published per change.</summary>
public sealed record ConfigSnapshot(long Revision, ImmutableDictionary<ResourceKey, Resource> Resources)
{
    public static readonly ConfigSnapshot Empty = new(0, ImmutableDictionary<ResourceKey, Resource>.Empty);
}

/// <summary>Where the rest of the control plane reads config from: the latest snapshot, and news of changes.</summary>
public interface IConfigSource
{
    ConfigSnapshot Current { get; }
    /// <summary>Raised after a new revision is durable; the argument is the new snapshot.</summary>
    event Action<ConfigSnapshot>? Changed;
}
