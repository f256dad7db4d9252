using System.Collections.Immutable;
using Weft.Protocol.Discovery;

namespace Weft.Control.Discovery;

/// <summary>What turns one proxy state into another: resources added or changed, and keys removed.</summary>
internal sealed record ResourceDiff(IReadOnlyList<Resource> Changed, IReadOnlyList<string> Removed)
{
    public bool IsEmpty => Changed.Count == 0 && Removed.Count == 0;

    public static ResourceDiff Between(ImmutableDictionary<string, Resource> from, ImmutableDictionary<string, Resource> to)
    {
        var changed = new List<Resource>();
        var removed = new List<string>();
        foreach (var (key, resource) in to)
        {
            // Protobuf messages compare by value, so an unchanged resource rebuilt from scratch is not resent.
            if (!from.TryGetValue(key, out var old) || !old.Equals(resource)) changed.Add(resource);
        }
        foreach (var key in from.Keys)
        {
            if (!to.ContainsKey(key)) removed.Add(key);
        }
        // Deterministic order: the same change reads the same on every proxy and in every log.
        changed.Sort(static (a, b) => string.CompareOrdinal(ResourceKeys.Of(a), ResourceKeys.Of(b)));
        removed.Sort(StringComparer.Ordinal);
        return new ResourceDiff(changed, removed);
    }

    public static bool SameState(ImmutableDictionary<string, Resource> a, ImmutableDictionary<string, Resource> b)
    {
        if (ReferenceEquals(a, b)) return true;
        if (a.Count != b.Count) return false;
        foreach (var (key, resource) in a)
        {
            if (!b.TryGetValue(key, out var other) || !other.Equals(resource)) return false;
        }
        return true;
    }
}
