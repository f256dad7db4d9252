using System.Collections.Immutable;
using Weft.Protocol.Discovery;

namespace Weft.Proxy.Config;

/// <summary>
/// Everything a proxy holds from the control plane, keyed by ResourceKeys.Of (e.g. "cluster/default/catalog").
/// The discovery client builds the next one (last good + changes) and offers it to the sink.
/// </summary>
public sealed record ProxyResources(long ConfigRevision, string VersionInfo, ImmutableDictionary<string, Resource> Items)
{
    public static readonly ProxyResources Empty = new(0, "", ImmutableDictionary<string, Resource>.Empty);
}

/// <summary>The data plane's side of discovery: checks a whole config and either takes it or refuses it.</summary>
public interface IProxyConfigSink
{
    /// <summary>
    /// Applies <paramref name="next"/> atomically: null when applied (ACK), else the reason it was
    /// rejected (NACK), in which case nothing of it took effect.
    /// </summary>
    ValueTask<string?> ApplyAsync(ProxyResources next, CancellationToken cancellationToken);
}
