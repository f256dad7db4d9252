using Weft.Cli.Up;
using Weft.Model.Resources;
using Weft.Model.Topology;

namespace Weft.Integration.Up;

public sealed class LaunchPlanTests
{
    private static Workload Workload(string name, string service, string version = "v1", int replicas = 1,
        string protocol = "http", IReadOnlyList<string>? command = null, IReadOnlyDictionary<string, string>? env = null,
        IReadOnlyList<string>? upstreams = null) =>
        new(name, service, version, "default",
            EquatableMap.From([new("app", service), new("version", version), new("zone", "a")]),
            replicas, protocol, 8080, command ?? ["/usr/bin/app", "--port", "${PORT}"],
            env ?? new Dictionary<string, string>(), upstreams ?? []);

    private static Topology Shop() => new("shop", "/mesh", [], [
        Workload("web", "web", replicas: 2, upstreams: ["catalog", "shop-ratings"],
            command: ["dotnet", "/mesh/shop.dll", "web", "--urls", "http://127.0.0.1:$PORT", "${HOME}", "$NOPE", "${NOPE}", "$$5"],
            env: new Dictionary<string, string> { ["GREETING"] = "hi from ${WEFT_INSTANCE}", ["PORT"] = "1" }),
        Workload("catalog-v2", "catalog", version: "v2", protocol: "grpc"),
    ], new IngressSpec("web", 8080));

    private static LaunchPlan Plan(int? ingressPort = null)
    {
        var port = 30000;
        return LaunchPlan.Create(Shop(), new LaunchOptions(IngressPort: ingressPort, Environment: n => n == "HOME" ? "/home/me" : null), () => port++);
    }

    [Fact]
    public void Every_replica_gets_its_own_instance_and_ports()
    {
        var plan = Plan();
        Assert.Equal(["web-0", "web-1", "catalog-v2-0"], plan.Replicas.Select(r => r.Instance));
        var web0 = plan.Replicas[0];
        Assert.Equal((30000, 30001, 30002), (web0.AppPort, web0.InboundPort, web0.AdminPort));
        Assert.Equal(30003, web0.OutboundPorts["catalog"]);
        Assert.Equal(30004, web0.OutboundPorts["shop-ratings"]);
        Assert.Equal(30005, plan.Replicas[1].AppPort);
        var all = plan.Replicas.SelectMany(r => new[] { r.AppPort, r.InboundPort, r.AdminPort }.Concat(r.OutboundPorts.Values))
            .Append(plan.Gateway!.AdminPort).ToArray();
        Assert.Equal(all.Length, all.Distinct().Count());
        Assert.Equal(new Uri("http://127.0.0.1:30002/ready"), web0.AdminReadyUrl);
    }

    [Fact]
    public void The_app_env_carries_port_upstreams_and_identity_and_the_mesh_wins()
    {
        var web1 = Plan().Replicas[1];
        var env = web1.AppEnvironment;
        Assert.Equal("30005", env["PORT"]); // the workload's PORT=1 does not win
        Assert.Equal("127.0.0.1:30008", env["WEFT_UPSTREAM_CATALOG"]);
        Assert.Equal("127.0.0.1:30009", env["WEFT_UPSTREAM_SHOP_RATINGS"]);
        Assert.Equal("web-1", env["WEFT_INSTANCE"]);
        Assert.Equal("web", env["WEFT_SERVICE"]);
        Assert.Equal("v1", env["WEFT_VERSION"]);
        Assert.Equal("default", env["WEFT_NAMESPACE"]);
        Assert.Equal("hi from web-1", env["GREETING"]);
    }

    [Fact]
    public void Command_arguments_expand_PORT_and_env_in_both_forms()
    {
        var web0 = Plan().Replicas[0];
        Assert.Equal("dotnet", web0.AppFileName);
        Assert.Equal(["/mesh/shop.dll", "web", "--urls", "http://127.0.0.1:30000", "/home/me", "$NOPE", "${NOPE}", "$5"], web0.AppArguments);
        var spec = web0.AppProcess();
        Assert.Equal(("web-0", ProcessRole.App, "/mesh"), (spec.Name, spec.Role, spec.WorkingDirectory));
        Assert.Same(web0.AppEnvironment, spec.Environment);
    }

    [Fact]
    public void The_sidecar_gets_the_weft_proxy_options()
    {
        var plan = Plan();
        Assert.Equal(
        [
            "proxy", "--service", "web", "--version", "v1", "--namespace", "default", "--instance", "web-0",
            "--app-port", "30000", "--app-protocol", "http", "--inbound-port", "30001", "--admin-port", "30002",
            "--upstream", "catalog=30003", "--upstream", "shop-ratings=30004",
            "--control", "http://127.0.0.1:15010",
            "--label", "app=web", "--label", "version=v1", "--label", "zone=a",
        ], plan.Replicas[0].ProxyArguments);
        Assert.Equal(
        [
            "proxy", "--service", "catalog", "--version", "v2", "--namespace", "default", "--instance", "catalog-v2-0",
            "--app-port", "30010", "--app-protocol", "grpc", "--inbound-port", "30011", "--admin-port", "30012",
            "--control", "http://127.0.0.1:15010",
            "--label", "app=catalog", "--label", "version=v2", "--label", "zone=a",
        ], plan.Replicas[2].ProxyArguments);

        var weft = new WeftCommandLine("/usr/bin/dotnet", ["/repo/weft.dll"]);
        var spec = plan.Replicas[0].ProxyProcess(weft);
        Assert.Equal(("web-0/proxy", ProcessRole.Proxy, "/usr/bin/dotnet"), (spec.Name, spec.Role, spec.FileName));
        Assert.Equal(["/repo/weft.dll", "proxy", "--service", "web"], spec.Arguments.Take(4));
    }

    [Fact]
    public void The_gateway_serves_the_ingress_service_on_the_ingress_port()
    {
        var gateway = Plan().Gateway!;
        Assert.Equal(8080, gateway.Port);
        Assert.Equal(
        [
            "proxy", "--gateway", "ingress", "--instance", "ingress", "--gateway-port", "8080", "--default-service", "web",
            "--admin-port", "30013", "--control", "http://127.0.0.1:15010", "--drain-seconds", "10",
        ], gateway.ProxyArguments);
        // Its requests in flight may take as long as `weft up --drain-seconds` allows.
        Assert.Equal(["--drain-seconds", "2.5"], LaunchPlan.Create(Shop(), new LaunchOptions(DrainDeadline: TimeSpan.FromSeconds(2.5)), () => 1).Gateway!.ProxyArguments.TakeLast(2));
        Assert.Equal(18080, Plan(ingressPort: 18080).Gateway!.Port);
        Assert.Equal("ingress", gateway.ProxyProcess(new WeftCommandLine("weft", [])).Name);
        Assert.Null(LaunchPlan.Create(Shop() with { Ingress = null }, new LaunchOptions(), () => 1).Gateway);
    }

    [Fact]
    public void The_shop_topology_plans_the_same_way_with_the_running_weft()
    {
        var weft = WeftCommandLine.Current();
        // Under the test host the process is dotnet: weft.dll comes first.
        Assert.EndsWith("weft.dll", weft.Prefix.Single());
    }

    [Theory]
    [InlineData("plain", "plain")]
    [InlineData("$PORT", "8080")]
    [InlineData("${PORT}", "8080")]
    [InlineData("a${PORT}b", "a8080b")]
    [InlineData("$PORT_X", "$PORT_X")]
    [InlineData("${PORT}_X", "8080_X")]
    [InlineData("$PORT-x", "8080-x")]
    [InlineData("$$PORT", "$PORT")]
    [InlineData("cost: 5$", "cost: 5$")]
    [InlineData("$1 ${} ${not closed", "$1 ${} ${not closed")]
    [InlineData("${MISSING}:$MISSING", "${MISSING}:$MISSING")]
    [InlineData("${A}${A}$A", "xxx")]
    public void Expansion_reads_names_like_a_shell(string text, string expected)
    {
        string? Lookup(string name) => name switch { "PORT" => "8080", "A" => "x", _ => null };
        Assert.Equal(expected, EnvExpansion.Expand(text, Lookup));
    }

    [Fact]
    public void Upstream_variables_are_upper_case_with_underscores() =>
        Assert.Equal("WEFT_UPSTREAM_CATALOG_V2", LaunchPlan.UpstreamVariable("catalog-v2"));

    [Fact]
    public void Backoff_doubles_to_the_cap_and_resets_after_a_healthy_run()
    {
        var backoff = new RestartBackoff(RestartPolicy.Default);
        var quick = TimeSpan.FromSeconds(1);
        var delays = Enumerable.Range(0, 7).Select(_ => backoff.Next(quick).TotalSeconds).ToArray();
        Assert.Equal([0.5, 1, 2, 4, 8, 10, 10], delays);
        Assert.Equal(0.5, backoff.Next(TimeSpan.FromSeconds(30)).TotalSeconds);
        Assert.Equal(1, backoff.Next(quick).TotalSeconds);
    }
}
