using System.Collections.Immutable;
using Weft.Control.Store;
using Weft.Control.Translate;
using Pb = Weft.Protocol.Discovery;

namespace Weft.Control.Tests.Translate;

/// <summary>Properties of translation as a whole, over the shop case's inputs.</summary>
public class ProxyTranslatorTests
{
    private static string Input(string file) => File.ReadAllText(Path.Combine(TranslationInputs.GoldenFolder(), "shop-web-sidecar", file));

    [Fact]
    public void Same_inputs_translate_to_equal_resources_and_byte_equal_json()
    {
        // Two independently built snapshots and indexes: equality must come from the inputs'
        // content, not from sharing objects (discovery diffs every push against the last ACKed state,
        // so any nondeterminism would push spurious changes to every proxy).
        var first = ProxyTranslator.Translate(new MeshIndex(TranslationInputs.Config(Input("config.yaml"), "a"), TranslationInputs.Registry(Input("registry.json"))), TranslationInputs.Node(Input("node.json")));
        var second = ProxyTranslator.Translate(new MeshIndex(TranslationInputs.Config(Input("config.yaml"), "b"), TranslationInputs.Registry(Input("registry.json"))), TranslationInputs.Node(Input("node.json")));

        Assert.Equal(first.Keys.Order(StringComparer.Ordinal), second.Keys.Order(StringComparer.Ordinal));
        foreach (var (key, resource) in first) Assert.Equal(resource, second[key]);
        Assert.Equal(TranslationInputs.Render(first), TranslationInputs.Render(second));
    }

    [Fact]
    public void Config_resource_insertion_order_does_not_change_the_output()
    {
        // ImmutableDictionary enumerates by hash; rebuilding it in reverse order shakes out any
        // dependence on enumeration order in the index (route order, cluster order).
        var config = TranslationInputs.Config(Input("config.yaml"), "a");
        var reversed = new ConfigSnapshot(config.Revision, ImmutableDictionary.CreateRange(
            config.Resources.OrderByDescending(p => p.Key.ToString(), StringComparer.Ordinal)));
        var registry = TranslationInputs.Registry(Input("registry.json"));
        var node = TranslationInputs.Node(Input("node.json"));

        Assert.Equal(
            TranslationInputs.Render(ProxyTranslator.Translate(new MeshIndex(config, registry), node)),
            TranslationInputs.Render(ProxyTranslator.Translate(new MeshIndex(reversed, registry), node)));
    }

    [Theory]
    [InlineData("shop-web-sidecar", "catalog-v2-0", "endpoints/default/catalog-v2")]
    [InlineData("shop-web-sidecar", "ratings-0", "endpoints/default/ratings")]
    [InlineData("auto-upstream", "mail-0", "endpoints/default/mail")]
    public void A_draining_instance_leaves_every_cluster_but_not_how_its_service_is_spoken_to(string @case, string instance, string endpoints)
    {
        string Read(string file) => File.ReadAllText(Path.Combine(TranslationInputs.GoldenFolder(), @case, file));
        var config = TranslationInputs.Config(Read("config.yaml"), @case);
        var registry = TranslationInputs.Registry(Read("registry.json"));
        var node = TranslationInputs.Node(Read("node.json"));
        var drained = registry with { Generation = 2, Draining = ImmutableSortedSet.Create(StringComparer.Ordinal, instance) };

        var before = ProxyTranslator.Translate(new MeshIndex(config, registry), node);
        var during = ProxyTranslator.Translate(new MeshIndex(config, drained), node);

        static IEnumerable<string> Instances(Weft.Protocol.Discovery.Resource r) => r.Endpoints.Endpoints.Select(e => e.InstanceId);
        Assert.Contains(instance, Instances(before[endpoints]));
        Assert.DoesNotContain(instance, Instances(during[endpoints]));
        Assert.Equal(Instances(before[endpoints]).Where(i => i != instance), Instances(during[endpoints]));
        // Only endpoints change: a cluster's protocol (taken from its workloads when the Service
        // declares none) stays, so no listener or route is rebuilt for a restart.
        Assert.Equal(before.Keys.Order(StringComparer.Ordinal), during.Keys.Order(StringComparer.Ordinal));
        foreach (var (key, resource) in before.Where(r => r.Key != endpoints)) Assert.Equal(resource, during[key]);
    }

    [Fact]
    public void Every_cluster_a_listener_or_route_names_arrives_with_its_endpoints()
    {
        // go-control-plane's consistency rule: the proxy rejects a route table naming a missing cluster.
        foreach (var dir in Directory.GetDirectories(TranslationInputs.GoldenFolder()))
        {
            var resources = ProxyTranslator.Translate(
                new MeshIndex(TranslationInputs.Config(File.ReadAllText(Path.Combine(dir, "config.yaml")), dir), TranslationInputs.Registry(File.ReadAllText(Path.Combine(dir, "registry.json")))),
                TranslationInputs.Node(File.ReadAllText(Path.Combine(dir, "node.json"))));
            foreach (var listener in resources.Values.Where(r => r.Listener is { TcpCluster.Length: > 0 }))
            {
                Assert.True(resources.ContainsKey("cluster/" + listener.Listener.TcpCluster), $"{Path.GetFileName(dir)}: no cluster {listener.Listener.TcpCluster}");
                Assert.True(resources.ContainsKey("endpoints/" + listener.Listener.TcpCluster), $"{Path.GetFileName(dir)}: no endpoints {listener.Listener.TcpCluster}");
            }
            foreach (var table in resources.Values.Where(r => r.RouteTable is not null))
                foreach (var backend in table.RouteTable.Routes.SelectMany(r => r.Backends))
                {
                    Assert.True(resources.ContainsKey("cluster/" + backend.Cluster), $"{Path.GetFileName(dir)}: no cluster {backend.Cluster}");
                    Assert.True(resources.ContainsKey("endpoints/" + backend.Cluster), $"{Path.GetFileName(dir)}: no endpoints {backend.Cluster}");
                }
        }
    }

    [Fact]
    public void Every_proxy_gets_exactly_one_settings_resource_named_proxy()
    {
        foreach (var dir in Directory.GetDirectories(TranslationInputs.GoldenFolder()))
        {
            var resources = ProxyTranslator.Translate(
                new MeshIndex(TranslationInputs.Config(File.ReadAllText(Path.Combine(dir, "config.yaml")), dir), TranslationInputs.Registry(File.ReadAllText(Path.Combine(dir, "registry.json")))),
                TranslationInputs.Node(File.ReadAllText(Path.Combine(dir, "node.json"))));
            var settings = Assert.Single(resources, r => r.Value.KindCase == Pb.Resource.KindOneofCase.Settings);
            Assert.Equal(("settings/proxy", "proxy"), (settings.Key, settings.Value.Name));
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("apiVersion: weft.dev/v1\nkind: MeshConfig\nmetadata: { name: default }\nspec: { mtls: { mode: STRICT } }\n")]
    [InlineData("apiVersion: weft.dev/v1\nkind: MeshConfig\nmetadata: { name: default }\nspec: { proxy: {} }\n")]
    public void Without_spec_proxy_no_setting_is_set(string config)
    {
        var settings = Settings(config);
        // Unset, not zero: a zero would turn some limits off instead of leaving the proxy's default.
        Assert.Equal(new Pb.ProxySettings(), settings);
        Assert.False(settings.HasRequestTimeoutMs);
        Assert.False(settings.HasMaxConnections);
        Assert.Equal(Pb.AmbiguousPathAction.AmbiguousPathReject, settings.AmbiguousPaths);
    }

    [Fact]
    public void Only_the_fields_spec_proxy_sets_are_set()
    {
        var settings = Settings("""
            apiVersion: weft.dev/v1
            kind: MeshConfig
            metadata: { name: default }
            spec:
              proxy: { tcpIdleTimeout: 0s, minBodyDataRate: { grace: 1s } }
            """);
        var expected = new Pb.ProxySettings { TcpIdleTimeoutMs = 0, MinBodyRateGraceMs = 1000 };
        Assert.Equal(expected, settings);
        Assert.True(settings.HasTcpIdleTimeoutMs);
        Assert.False(settings.HasMinBodyBytesPerSecond);
    }

    [Fact]
    public void Mtls_modes_set_what_the_inbound_port_takes_and_whether_clients_of_a_service_use_mTLS()
    {
        var config = Input("config.yaml") + """

            ---
            apiVersion: weft.dev/v1
            kind: MeshConfig
            metadata: { name: default }
            spec:
              mtls:
                mode: STRICT
                overrides:
                  - { service: ratings, namespace: default, mode: DISABLE }
                  - { service: web, namespace: default, mode: PERMISSIVE }
            """;
        var resources = ProxyTranslator.Translate(
            new MeshIndex(TranslationInputs.Config(config, "a"), TranslationInputs.Registry(Input("registry.json"))), TranslationInputs.Node(Input("node.json")));

        // web's own inbound port follows web's override; the mesh's STRICT is for the others.
        Assert.Equal(Pb.MtlsMode.MtlsPermissive, resources["listener/inbound"].Listener.MtlsMode);
        Assert.True(resources["cluster/default/catalog-v1"].Cluster.Mtls);
        Assert.False(resources["cluster/default/ratings"].Cluster.Mtls);
        // The local app is plaintext whatever the mode.
        Assert.False(resources["cluster/inbound/app"].Cluster.Mtls);

        var strict = ProxyTranslator.Translate(
            new MeshIndex(TranslationInputs.Config(config.Replace("mode: PERMISSIVE", "mode: STRICT", StringComparison.Ordinal), "b"),
                TranslationInputs.Registry(Input("registry.json"))), TranslationInputs.Node(Input("node.json")));
        Assert.Equal(Pb.MtlsMode.MtlsStrict, strict["listener/inbound"].Listener.MtlsMode);
    }

    private static Pb.ProxySettings Settings(string config) =>
        ProxyTranslator.Translate(
            new MeshIndex(TranslationInputs.Config(config, "mesh.yaml"), TranslationInputs.Registry("[]")),
            new Pb.Node { Id = "web-0", Service = "web" })["settings/proxy"].Settings;
}
