using Weft.Model.Resources;

namespace Weft.Control.Store;

public static class ConfigSnapshotQueries
{
    /// <summary>
    /// Resources of one snapshot filtered by canonical kind, namespace and name (null = any), sorted by
    /// key. On the snapshot, not the store, so a caller can answer with items and revision that agree.
    /// </summary>
    public static IReadOnlyList<Resource> Select(this ConfigSnapshot snapshot, string? kind = null, string? ns = null, string? name = null)
    {
        var matches = new List<Resource>();
        foreach (var (key, resource) in snapshot.Resources)
        {
            if ((kind is null || key.Kind == kind) && (ns is null || key.Namespace == ns) && (name is null || key.Name == name))
                matches.Add(resource);
        }
        matches.Sort((a, b) => Compare(a.Key, b.Key));
        return matches;
    }

    /// <summary>Kind, then namespace, then name, ordinal: the one order of listings and revision files.</summary>
    public static int Compare(ResourceKey a, ResourceKey b)
    {
        var c = string.CompareOrdinal(a.Kind, b.Kind);
        if (c == 0) c = string.CompareOrdinal(a.Namespace, b.Namespace);
        return c != 0 ? c : string.CompareOrdinal(a.Name, b.Name);
    }
}
