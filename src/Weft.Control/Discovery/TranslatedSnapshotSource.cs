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
    private readonly Ca.TrustBundleSource? _trustBundle;

    /// <param name="translate">Pure: the resources for one proxy, keyed by ResourceKeys.Of.</param>
    /// <param name="trustBundle">The CA's trust bundle, which every proxy gets beside its translated config (null: none, in tests of translation alone).</param>
    public TranslatedSnapshotSource(
        IConfigSource config,
        WorkloadRegistry registry,
        Func<ConfigSnapshot, RegistrySnapshot, Node, ImmutableDictionary<string, Resource>> translate,
        Ca.TrustBundleSource? trustBundle = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(registry);
        _config = config;
        _registry = registry;
        _translate = translate;
        _trustBundle = trustBundle;
        _config.Changed += OnConfigChanged;
        _registry.Changed += OnRegistryChanged;
        if (_trustBundle is not null)
            _trustBundle.Changed += OnBundleChanged;
    }

    public event Action? Changed;

    public ProxySnapshot Build(Node node)
    {
        var config = _config.Current;
        var resources = _translate(config, _registry.Current, node);
        if (_trustBundle?.Current is { } bundle)
            resources = resources.SetItem(ResourceKeys.Of(bundle), bundle);
        return new ProxySnapshot(config.Revision, resources);
    }

    public void Dispose()
    {
        _config.Changed -= OnConfigChanged;
        _registry.Changed -= OnRegistryChanged;
        if (_trustBundle is not null)
            _trustBundle.Changed -= OnBundleChanged;
    }

    private void OnBundleChanged() => Changed?.Invoke();

    private void OnConfigChanged(ConfigSnapshot _) => Changed?.Invoke();
    private void OnRegistryChanged(RegistrySnapshot _) => Changed?.Invoke();
}
