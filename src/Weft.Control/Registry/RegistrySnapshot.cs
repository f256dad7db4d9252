using System.Collections.Immutable;

namespace Weft.Control.Registry;

/// <summary>Every known workload at one generation, keyed by instance id. Immutable: translation reads it without locks.</summary>
public sealed record RegistrySnapshot(long Generation, ImmutableSortedDictionary<string, Workload> Workloads)
{
    public static readonly RegistrySnapshot Empty = new(0, ImmutableSortedDictionary.Create<string, Workload>(StringComparer.Ordinal));
}
