using Weft.Control.Registry;
using Weft.Control.Store;
using Weft.Control.Translate;

namespace Weft.Control.Tests.Translate;

public class MeshIndexCacheTests
{
    private static string Input(string file) => File.ReadAllText(Path.Combine(TranslationInputs.GoldenFolder(), "shop-web-sidecar", file));

    private readonly ConfigSnapshot _config = TranslationInputs.Config(Input("config.yaml"), "config.yaml");
    private readonly RegistrySnapshot _registry = TranslationInputs.Registry(Input("registry.json"));

    [Fact]
    public void Same_snapshots_reuse_the_index()
    {
        var cache = new MeshIndexCache();
        var first = cache.For(_config, _registry);
        Assert.Same(first, cache.For(_config, _registry));
    }

    [Fact]
    public void New_config_snapshot_rebuilds_the_index()
    {
        var cache = new MeshIndexCache();
        var first = cache.For(_config, _registry);
        // A new revision with equal content is still a new snapshot: the cache keys on identity,
        // which is cheap and never wrong (records' value equality would compare whole dictionaries).
        var next = _config with { Revision = _config.Revision + 1 };
        var second = cache.For(next, _registry);
        Assert.NotSame(first, second);
        Assert.Same(next, second.Config);
    }

    [Fact]
    public void New_registry_snapshot_rebuilds_the_index()
    {
        var cache = new MeshIndexCache();
        var first = cache.For(_config, _registry);
        var next = _registry with { Generation = _registry.Generation + 1, Workloads = _registry.Workloads.Remove("catalog-v2-0") };
        var second = cache.For(_config, next);
        Assert.NotSame(first, second);
        Assert.Same(next, second.Registry);
    }

    [Fact]
    public void Translate_through_the_cache_sees_the_new_registry()
    {
        // The point of rebuilding: a removed workload must leave the endpoints of a cached mesh.
        var cache = new MeshIndexCache();
        var node = TranslationInputs.Node(Input("node.json"));
        var before = cache.Translate(_config, _registry, node);
        Assert.Contains(before["endpoints/default/catalog-v2"].Endpoints.Endpoints, e => e.InstanceId == "catalog-v2-0");

        var after = cache.Translate(_config, _registry with { Generation = 2, Workloads = _registry.Workloads.Remove("catalog-v2-0") }, node);
        Assert.Empty(after["endpoints/default/catalog-v2"].Endpoints.Endpoints);
    }

    [Fact]
    public void Going_back_to_an_older_snapshot_rebuilds_rather_than_serving_the_newer_index()
    {
        var cache = new MeshIndexCache();
        var older = ConfigSnapshot.Empty;
        cache.For(older, _registry);
        cache.For(_config, _registry);
        Assert.Same(older, cache.For(older, _registry).Config);
        Assert.Same(RegistrySnapshot.Empty, cache.For(older, RegistrySnapshot.Empty).Registry);
    }
}
