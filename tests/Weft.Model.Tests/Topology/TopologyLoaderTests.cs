using Weft.Model.Resources;
using Weft.Model.Topology;

namespace Weft.Model.Tests.Topology;

public sealed class TopologyLoaderTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("weft-topology-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string relative, string text)
    {
        var path = Path.Combine(_dir, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void Loads_the_contract_example_with_defaults_and_resolved_paths()
    {
        Write("routes.yaml", "");
        Write("bin/catalog.dll", "");
        Write("scripts/run.sh", "");
        var path = Write("mesh.yaml", """
            apiVersion: weft.dev/v1
            kind: Topology
            metadata: { name: shop }
            spec:
              config: [routes.yaml]
              workloads:
                - name: catalog-v2
                  service: catalog
                  version: v2
                  namespace: default
                  labels: { zone: a }
                  replicas: 2
                  protocol: http
                  port: 8080
                  command: [dotnet, bin/catalog.dll, --urls, "http://127.0.0.1:${PORT}"]
                  env: { FOO: bar, COUNT: 3 }
                  upstreams: [ratings]
                - name: ratings
                  service: ratings
                  command: [./scripts/run.sh, ../outside.sh, scripts/missing.sh, /usr/bin/env, "${PORT}"]
              ingress: { service: catalog, port: 8080 }
            """);

        var (topology, errors) = TopologyLoader.Load(path);

        Assert.Empty(errors);
        Assert.NotNull(topology);
        Assert.Equal("shop", topology.Name);
        Assert.Equal(_dir, topology.Directory);
        Assert.Equal([Path.Combine(_dir, "routes.yaml")], topology.ConfigFiles);
        var catalog = topology.Workloads[0];
        Assert.Equal(("catalog-v2", "catalog", "v2", "default", 2, "http", 8080), (catalog.Name, catalog.Service, catalog.Version, catalog.Namespace, catalog.Replicas, catalog.Protocol, catalog.Port));
        Assert.Equal(EquatableMap.From([new("zone", "a"), new("app", "catalog"), new("version", "v2")]), catalog.Labels);
        Assert.Equal(["dotnet", Path.Combine(_dir, "bin/catalog.dll"), "--urls", "http://127.0.0.1:${PORT}"], catalog.Command);
        Assert.Equal("3", catalog.Env["COUNT"]);
        Assert.Equal(["ratings"], catalog.Upstreams);

        var ratings = topology.Workloads[1];
        Assert.Equal(("v1", "default", 1, "http", 8080), (ratings.Version, ratings.Namespace, ratings.Replicas, ratings.Protocol, ratings.Port));
        Assert.Equal(
            [Path.Combine(_dir, "scripts/run.sh"), Path.GetFullPath(Path.Combine(_dir, "../outside.sh")), "scripts/missing.sh", "/usr/bin/env", "${PORT}"],
            ratings.Command);
        Assert.Equal(new IngressSpec("catalog", 8080), topology.Ingress);
    }

    [Fact]
    public void Reports_every_error_with_file_line_and_path()
    {
        var path = Write("bad.yaml", """
            apiVersion: weft.dev/v1
            kind: Topology
            metadata: { name: shop }
            spec:
              config: [missing.yaml]
              workloads:
                - name: a
                  service: Catalog
                  replicas: 0
                  command: []
                  upstreams: [ok, "not ok"]
                - name: a
                  service: web
                  protocol: udp
                  comand: [x]
                  env: { PORT: "1" }
              ingress: { port: 80 }
            """);

        var (topology, errors) = TopologyLoader.Load(path);

        Assert.Null(topology);
        var expected = new (string Path, int Line)[]
        {
            ("spec.config[0]", 5), ("spec.workloads[0].service", 8), ("spec.workloads[0].replicas", 9),
            ("spec.workloads[0].command", 10), ("spec.workloads[0].upstreams[1]", 11), ("spec.workloads[1].name", 12),
            ("spec.workloads[1].protocol", 14), ("spec.workloads[1].comand", 15), ("spec.workloads[1].command", 12),
            ("spec.workloads[1].env[\"PORT\"]", 16), ("spec.ingress.service", 17),
        };
        foreach (var (p, line) in expected)
        {
            var e = Assert.Single(errors, e => e.Path == p);
            Assert.Equal(line, e.Line);
            Assert.Equal(path, e.File);
        }
        Assert.Equal(expected.Length, errors.Count);
        Assert.Contains("did you mean \"command\"", errors.Single(e => e.Path == "spec.workloads[1].comand").Message);
    }

    [Fact]
    public void Workloads_of_one_service_must_agree_on_port()
    {
        var path = Write("m.yaml", """
            apiVersion: weft.dev/v1
            kind: Topology
            metadata: { name: m }
            spec:
              workloads:
                - { name: a-v1, service: a, command: [x] }
                - { name: a-v2, service: a, version: v2, port: 9090, command: [x] }
            """);
        var (_, errors) = TopologyLoader.Load(path);
        var e = Assert.Single(errors);
        Assert.Equal(("spec.workloads[1]", 7), (e.Path, e.Line));
    }

    [Fact]
    public void Conflicting_app_label_is_rejected()
    {
        var path = Write("m.yaml", """
            apiVersion: weft.dev/v1
            kind: Topology
            metadata: { name: m }
            spec:
              workloads:
                - { name: a, service: a, labels: { app: b }, command: [x] }
            """);
        var e = Assert.Single(TopologyLoader.Load(path).Errors);
        Assert.Equal("spec.workloads[0].labels", e.Path);
    }

    [Fact]
    public void Missing_file_and_syntax_error_are_errors_not_exceptions()
    {
        var missing = TopologyLoader.Load(Path.Combine(_dir, "nope.yaml"));
        Assert.Null(missing.Topology);
        Assert.Contains("cannot read topology file", Assert.Single(missing.Errors).Message);

        var path = Write("broken.yaml", "apiVersion: weft.dev/v1\nkind: Topology\nspec:\n  workloads: [\n");
        var (topology, errors) = TopologyLoader.Load(path);
        Assert.Null(topology);
        Assert.StartsWith("YAML syntax error", Assert.Single(errors).Message);
    }

    [Theory]
    [InlineData("./run.sh", true)]
    [InlineData("../x/run.sh", true)]
    [InlineData("app.dll", true)]
    [InlineData("absent.dll", false)]
    [InlineData("--flag", false)]
    [InlineData("http://x/y", false)]
    [InlineData("${PORT}", false)]
    [InlineData("/abs/path", false)]
    public void Command_path_rule(string arg, bool resolved)
    {
        var result = TopologyBinder.ResolveArgument(arg, "/topo", p => p is "/topo/app.dll");
        Assert.Equal(resolved, result != arg);
        if (resolved) Assert.Equal(Path.GetFullPath(Path.Combine("/topo", arg)), result);
    }
}

public class ImpliedServicesTests
{
    private static Workload W(string name, string service, string protocol = "http", int port = 8080) =>
        new(name, service, "v1", "default", EquatableMap.Empty, 1, protocol, port, EquatableList.From(["x"]), EquatableMap.Empty, EquatableList<string>.Empty);

    [Fact]
    public void Creates_one_service_per_undeclared_service()
    {
        var topology = new Weft.Model.Topology.Topology("t", "/t", [], [W("a-v1", "a"), W("a-v2", "a"), W("b", "b", "grpc", 9090), W("c", "c")], null);
        var declared = Weft.Model.Parsing.ResourceParser.Parse(
            "apiVersion: weft.dev/v1\nkind: Service\nmetadata: { name: c }\nspec: { ports: [{ port: 1 }] }\n", "c.yaml").Resources;

        var services = ImpliedServices.From(topology, declared);

        Assert.Equal(["a", "b"], services.Select(s => s.Metadata.Name));
        Assert.Equal(new ServicePort(null, 9090, AppProtocol.Grpc, null), Assert.Single(services[1].Spec.Ports));
        Assert.Equal(EquatableMap.From([new("app", "b")]), services[1].Spec.Selector);
    }
}
