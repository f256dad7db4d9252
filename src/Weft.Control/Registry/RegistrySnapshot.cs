using System.Collections.Immutable;

namespace Weft.Control.Registry;

/// <summary>Every known workload at one generation, keyed by instance id. Immutable: translation reads it without locks.</summary>
public sealed record RegistrySnapshot(long Generation, ImmutableSortedDictionary<string, Workload> Workloads)
{
    public static readonly RegistrySnapshot Empty = new(0, ImmutableSortedDictionary.Create<string, Workload>(StringComparer.Ordinal));

    /// <summary>
    /// Instances being drained (a graceful restart or stop): known, but no cluster lists them as an
    /// endpoint, so new requests go elsewhere while those in flight finish.
    /// </summary>
    public ImmutableSortedSet<string> Draining { get; init; } = ImmutableSortedSet.Create<string>(StringComparer.Ordinal);
}
