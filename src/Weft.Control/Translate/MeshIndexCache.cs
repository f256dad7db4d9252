using System.Collections.Immutable;
using Weft.Control.Registry;
using Weft.Control.Store;
using Pb = Weft.Protocol.Discovery;

namespace Weft.Control.Translate;

/// <summary>
/// Keeps the MeshIndex of the latest (config, registry) pair, so translating for every connected proxy
/// after a change builds the index once. Lock-free: a stale index is replaced, never mutated.
/// </summary>
public sealed class MeshIndexCache
{
    private MeshIndex? _last;

    public MeshIndex For(ConfigSnapshot config, RegistrySnapshot registry)
    {
        var last = Volatile.Read(ref _last);
        if (last is not null && ReferenceEquals(last.Config, config) && ReferenceEquals(last.Registry, registry)) return last;
        var index = new MeshIndex(config, registry);
        Volatile.Write(ref _last, index);
        return index;
    }

    /// <summary>The translation function discovery calls per proxy.</summary>
    public ImmutableDictionary<string, Pb.Resource> Translate(ConfigSnapshot config, RegistrySnapshot registry, Pb.Node node) =>
        ProxyTranslator.Translate(For(config, registry), node);
}
