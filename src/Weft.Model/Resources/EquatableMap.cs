using System.Collections;

namespace Weft.Model.Resources;

/// <summary>A read-only string map, ordered by key, that compares by value (records need that to diff).</summary>
public sealed class EquatableMap : IReadOnlyDictionary<string, string>, IEquatable<EquatableMap>
{
    public static readonly EquatableMap Empty = new(new SortedDictionary<string, string>(StringComparer.Ordinal));

    private readonly SortedDictionary<string, string> _items;

    private EquatableMap(SortedDictionary<string, string> items) => _items = items;

    public static EquatableMap From(IEnumerable<KeyValuePair<string, string>> items)
    {
        var sorted = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (k, v) in items) sorted[k] = v;
        return sorted.Count == 0 ? Empty : new EquatableMap(sorted);
    }

    public string this[string key] => _items[key];
    public IEnumerable<string> Keys => _items.Keys;
    public IEnumerable<string> Values => _items.Values;
    public int Count => _items.Count;
    public bool ContainsKey(string key) => _items.ContainsKey(key);
    public bool TryGetValue(string key, out string value) => _items.TryGetValue(key, out value!);
    public IEnumerator<KeyValuePair<string, string>> GetEnumerator() => _items.GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>True when every pair of <paramref name="selector"/> is in this map (label selection).</summary>
    public bool Contains(EquatableMap selector)
    {
        foreach (var (k, v) in selector)
            if (!_items.TryGetValue(k, out var mine) || mine != v) return false;
        return true;
    }

    public bool Equals(EquatableMap? other) =>
        other is not null && other.Count == Count && _items.All(p => other.TryGetValue(p.Key, out var v) && v == p.Value);
    public override bool Equals(object? obj) => Equals(obj as EquatableMap);
    public override int GetHashCode()
    {
        var h = new HashCode();
        foreach (var (k, v) in _items) { h.Add(k); h.Add(v); }
        return h.ToHashCode();
    }
}
