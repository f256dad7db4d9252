using System.Collections.Concurrent;

namespace Weft.Proxy.Pipeline;

/// <summary>Who sent a request, as metrics label it: the calling workload's service and version.</summary>
internal sealed record SourceIdentity(string Service, string Version)
{
    public const string Unknown = "unknown";

    /// <summary>The mesh-internal header an outbound sidecar writes and an inbound one reads (until mTLS identities replace it).</summary>
    public const string HeaderName = "x-weft-source";

    public static readonly SourceIdentity None = new(Unknown, Unknown);
}

/// <summary>
/// The one parser of <c>x-weft-source</c> values ("service;version;namespace"), caching each distinct
/// value (one per calling workload). Bounded: a caller sending random values grows neither the cache
/// nor the metric series; past the bound new values count as unknown.
/// </summary>
internal sealed class SourceParser
{
    private const int MaxCached = 1024;
    private readonly ConcurrentDictionary<string, SourceIdentity> _known = new(StringComparer.Ordinal);

    /// <summary>
    /// The identity a request's source header values claim. Anything but exactly one value (none, two
    /// lines, a comma-joined list) is no claim at all: which one would be the truth?
    /// </summary>
    public SourceIdentity Parse(string? value, int count)
    {
        if (count != 1 || string.IsNullOrEmpty(value) || value.Contains(','))
            return SourceIdentity.None;
        return _known.TryGetValue(value, out var known) ? known : ParseSlow(value);
    }

    private SourceIdentity ParseSlow(string value)
    {
        if (_known.Count >= MaxCached)
            return SourceIdentity.None;
        var parts = value.Split(';');
        var parsed = new SourceIdentity(
            parts[0].Trim() is { Length: > 0 } service ? service : SourceIdentity.Unknown,
            parts.Length > 1 && parts[1].Trim() is { Length: > 0 } version ? version : SourceIdentity.Unknown);
        _known.TryAdd(value, parsed);
        return parsed;
    }
}
