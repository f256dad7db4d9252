using System.Net;

namespace Weft.Control;

/// <summary>How `weft control` runs (CONTRACT ports: 15010 discovery, 15014 HTTP API).</summary>
public sealed record ControlPlaneOptions
{
    public required string DataDir { get; init; }
    public IPAddress ListenAddress { get; init; } = IPAddress.Loopback;

    /// <summary>More addresses serving discovery only (weft up --isolation netns: the bridge the namespaces reach).</summary>
    public IReadOnlyList<IPAddress> DiscoveryAddresses { get; init; } = [];
    public int DiscoveryPort { get; init; } = 15010;

    /// <summary>Discovery over TLS (docs/security.md, "Discovery"); 0: none.</summary>
    public int DiscoveryTlsPort { get; init; } = 15012;
    public int ApiPort { get; init; } = 15014;

    /// <summary>The CA's folder: an operator's root and intermediate, or where Weft makes its own (default: DataDir/ca).</summary>
    public string? CaDir { get; init; }

    /// <summary>A file kept current with the trust bundle (world-readable), for proxies' --ca-file; null: none.</summary>
    public string? TrustBundleFile { get; init; }
}
