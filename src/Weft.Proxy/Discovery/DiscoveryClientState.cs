namespace Weft.Proxy.Discovery;

/// <summary>What the proxy's admin shows of its discovery stream. Immutable; replaced on every change.</summary>
public sealed record DiscoveryClientState(
    bool Connected,
    DateTimeOffset? ConnectedSince,
    long AppliedRevision,
    string AppliedVersion,
    DateTimeOffset? AppliedAt,
    string? LastNackVersion,     // the version the proxy refused last
    string? LastNackReason,
    DateTimeOffset? LastNackAt,
    int Reconnects,
    string? LastError)
{
    public static readonly DiscoveryClientState Initial = new(false, null, 0, "", null, null, null, null, 0, null);
}
