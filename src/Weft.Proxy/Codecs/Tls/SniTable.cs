using System.Collections.Frozen;

namespace Weft.Proxy.Codecs.Tls;

/// <summary>
/// Server name -> cluster for TLS passthrough. An exact name wins over wildcards; among wildcards
/// (<c>*.example.com</c>, matching one or more labels before the suffix, as Envoy and Gateway API do)
/// the longest suffix wins. Names are lower case (the ClientHello parser lowers them too).
/// </summary>
internal sealed class SniTable
{
    public static readonly SniTable Empty = new(FrozenDictionary<string, string>.Empty, []);

    private readonly FrozenDictionary<string, string> _exact;
    private readonly (string Suffix, string Cluster)[] _wildcards;

    public SniTable(FrozenDictionary<string, string> exact, (string Suffix, string Cluster)[] wildcardsLongestFirst)
    {
        _exact = exact;
        _wildcards = wildcardsLongestFirst;
    }

    public bool IsEmpty => _exact.Count == 0 && _wildcards.Length == 0;

    /// <summary>The cluster for <paramref name="serverName"/>, or null when no route names it.</summary>
    public string? Match(string? serverName)
    {
        if (serverName is null)
            return null;
        if (_exact.TryGetValue(serverName, out var cluster))
            return cluster;
        foreach (var (suffix, c) in _wildcards)
        {
            // ".example.com" with at least one character before it.
            if (serverName.Length > suffix.Length && serverName.EndsWith(suffix, StringComparison.Ordinal))
                return c;
        }
        return null;
    }
}
