using System.Collections.Immutable;
using Weft.Protocol.Discovery;

namespace Weft.Control.Discovery;

/// <summary>
/// Everything one proxy should hold, at one config revision: a plain value, keyed by
/// <see cref="ResourceKeys.Of"/>. Discovery diffs two of these; it never looks inside a resource.
/// </summary>
public sealed record ProxySnapshot(long ConfigRevision, ImmutableDictionary<string, Resource> Resources)
{
    public static readonly ProxySnapshot Empty = new(0, ImmutableDictionary<string, Resource>.Empty);
}

/// <summary>
/// The one seam between discovery and translation (go-control-plane's cache interface, reduced to what
/// the streams need). Build must be pure and cheap enough to call per proxy per change, and safe to
/// call from any thread. Changed fires after the config or the registry changed; discovery debounces it
/// and rebuilds every connected proxy's snapshot, so spurious events cost a diff, nothing more.
/// </summary>
public interface IProxySnapshotSource
{
    ProxySnapshot Build(Node node);
    event Action? Changed;
}
