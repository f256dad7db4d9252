using YamlDotNet.RepresentationModel;
using static Weft.Integration.Up.UpTestSupport;

namespace Weft.Integration.Up;

/// <summary>
/// The demo's files agree with each other and with the build: every command runs the built shop,
/// every upstream is a service someone serves, every route points at declared Services.
/// </summary>
public sealed class ShopTopologyTests
{
    private static readonly string ShopDir = Path.Combine(RepoRoot(), "examples", "shop");

    private static List<YamlMappingNode> Documents(string file)
    {
        var stream = new YamlStream();
        using (var reader = File.OpenText(Path.Combine(ShopDir, file))) stream.Load(reader);
        return stream.Documents.Select(d => (YamlMappingNode)d.RootNode).ToList();
    }

    private static YamlNode At(YamlNode node, params string[] path)
    {
        foreach (var key in path) node = ((YamlMappingNode)node)[key];
        return node;
    }

    private static string Text(YamlNode node, params string[] path) => ((YamlScalarNode)At(node, path)).Value!;

    private static IEnumerable<YamlNode> Items(YamlNode node, params string[] path) =>
        ((YamlSequenceNode)At(node, path)).Children;

    private static bool Has(YamlNode node, string key) => ((YamlMappingNode)node).Children.ContainsKey(key);

    [Fact]
    public void The_mesh_runs_the_built_shop_and_its_upstreams_are_served()
    {
        var mesh = Documents("mesh.yaml").Single();
        Assert.Equal("Topology", Text(mesh, "kind"));
        var workloads = Items(mesh, "spec", "workloads").ToList();
        Assert.Equal(["web", "catalog-v1", "catalog-v2", "ratings", "loadgen"], workloads.Select(w => Text(w, "name")));

        var served = workloads.Select(w => Text(w, "service")).ToHashSet();
        foreach (var w in workloads)
        {
            var command = Items(w, "command").Select(c => ((YamlScalarNode)c).Value!).ToArray();
            Assert.Equal("dotnet", command[0]);
            Assert.Equal(Path.GetFullPath(ShopDll()), Path.GetFullPath(Path.Combine(ShopDir, command[1])));
            Assert.True(File.Exists(Path.Combine(ShopDir, command[1])), $"{command[1]} is not built");
            if (Has(w, "upstreams"))
                Assert.All(Items(w, "upstreams"), u => Assert.Contains(((YamlScalarNode)u).Value!, served));
        }
        Assert.Equal("web", Text(mesh, "spec", "ingress", "service"));
        Assert.All(Items(mesh, "spec", "config"), c => Assert.True(File.Exists(Path.Combine(ShopDir, ((YamlScalarNode)c).Value!))));
    }

    [Fact]
    public void The_catalog_split_and_its_v2_only_step_route_to_declared_services()
    {
        var config = Documents("routes.yaml");
        var services = config.Where(d => Text(d, "kind") == "Service").Select(d => Text(d, "metadata", "name")).ToHashSet();
        Assert.Equal(["web", "catalog", "catalog-v1", "catalog-v2", "ratings"], services);
        Assert.Equal("grpc", Text(Items(config.Single(d => Text(d, "metadata", "name") == "ratings"), "spec", "ports").Single(), "protocol"));

        var split = config.Single(d => Text(d, "kind") == "HTTPRoute");
        var v2Only = Documents("catalog-v2-only.yaml").Single();
        foreach (var route in new[] { split, v2Only })
        {
            Assert.Equal("catalog-split", Text(route, "metadata", "name"));
            var parent = Items(route, "spec", "parentRefs").Single();
            Assert.Equal(("", "Service", "catalog"), (Text(parent, "group"), Text(parent, "kind"), Text(parent, "name")));
            Assert.All(Items(route, "spec", "rules").SelectMany(r => Items(r, "backendRefs")),
                b => Assert.Contains(Text(b, "name"), services));
        }
        int Weight(YamlMappingNode route, string backend) => int.Parse(Text(
            Items(route, "spec", "rules").SelectMany(r => Items(r, "backendRefs")).Single(b => Text(b, "name") == backend), "weight"));
        Assert.Equal((50, 50), (Weight(split, "catalog-v1"), Weight(split, "catalog-v2")));
        Assert.Equal((0, 100), (Weight(v2Only, "catalog-v1"), Weight(v2Only, "catalog-v2")));
    }
}
