using Weft.Protocol.Discovery;

namespace Weft.Proxy;

/// <summary>
/// Who this proxy stands for. Outbound requests carry it to the peer sidecar (x-weft-source) and
/// inbound metrics use it as the destination.
/// </summary>
public sealed record ProxyIdentity(string Service, string Version, string Namespace, Role Role)
{
    /// <summary>The x-weft-source value this proxy sends: "service;version;namespace".</summary>
    internal string SourceHeaderValue { get; } = Service + ";" + Version + ";" + Namespace;
}
