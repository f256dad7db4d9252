using System.Collections.Immutable;
using Weft.Control.Registry;
using Weft.Control.Store;
using Weft.Protocol.Discovery;

namespace Weft.Control.Discovery;

/// <summary>
/// The production <see cref="IProxySnapshotSource"/>: the latest config and registry, passed through a pure
/// translation. It only joins the two change feeds; what a proxy gets is entirely the translation's business.
/// </summary>
public sealed class TranslatedSnapshotSource : IProxySnapshotSource, IDisposable
{
    private readonly IConfigSource _config;
    private readonly WorkloadRegistry _registry;
    private readonly Func<ConfigSnapshot, RegistrySnapshot, Node, ImmutableDictionary<string, Resource>> _translate;

    /// <param name="translate">Pure: the resources for one proxy, keyed by ResourceKeys.Of.</param>
    public TranslatedSnapshotSource(
        IConfigSource config,
        WorkloadRegistry registry,
        Func<ConfigSnapshot, RegistrySnapshot, Node, ImmutableDictionary<string, Resource>> translate)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(registry);
        _config = config;
        _registry = registry;
        _translate = translate;
        _config.Changed += OnConfigChanged;
        _registry.Changed += OnRegistryChanged;
    }

    public event Action? Changed;

    public ProxySnapshot Build(Node node)
    {
        var config = _config.Current;
        return new ProxySnapshot(config.Revision, _translate(config, _registry.Current, node));
    }

    public void Dispose()
    {
        _config.Changed -= OnConfigChanged;
        _registry.Changed -= OnRegistryChanged;
    }

    private void OnConfigChanged(ConfigSnapshot _) => Changed?.Invoke();
    private void OnRegistryChanged(RegistrySnapshot _) => Changed?.Invoke();
}
