using Weft.Cli.Up;
using Weft.Cli.Up.Isolation;
using Weft.Model.Topology;

namespace Weft.Integration.Transparent;

/// <summary>The pure parts of `weft up --isolation netns`: names, addresses, rules, hosts files, launch plan.</summary>
public class IsolationPlanTests
{
    [Fact]
    public void Names_and_addresses_derive_from_the_run_prefix()
    {
        var layout = NetnsLayout.Create("wf1a2b", 7);
        Assert.Equal("wf1a2b-br", layout.Bridge);
        Assert.Equal("10.254.7.1", layout.BridgeAddress);
        Assert.Equal("10.254.7.0/24", layout.Cidr);
        var replica = layout.Replica("catalog-v1-0", 0);
        Assert.Equal(new ReplicaNetwork("wf1a2b-catalog-v1-0", "wf1a2b-v0", "wf1a2b-p0", "10.254.7.2"), replica);
        Assert.True(layout.Replica("x", NetnsLayout.MaxReplicas - 1).HostVeth.Length <= 15, "interface names are at most 15 bytes");
        Assert.Throws<ArgumentOutOfRangeException>(() => layout.Replica("x", NetnsLayout.MaxReplicas));
        Assert.Throws<ArgumentException>(() => NetnsLayout.Create("weft", 1));
    }

    [Fact]
    public void Leftovers_are_recognised_by_prefix_only()
    {
        Assert.Equal("wf1a2b", NetnsLayout.PrefixOf("wf1a2b-catalog-0"));
        Assert.Equal("wf1a2b", NetnsLayout.PrefixOf("wf1a2b-br"));
        Assert.Null(NetnsLayout.PrefixOf("wf1a2-br"));
        Assert.Null(NetnsLayout.PrefixOf("eth0"));
        Assert.Null(NetnsLayout.PrefixOf("wfzzzz-br"));
        Assert.Matches("^wf[0-9a-f]{4}$", NetnsLayout.NewPrefix(new Random(1)));
    }

    [Fact]
    public void The_subnet_avoids_every_route_of_the_machine()
    {
        Assert.Equal(5, NetnsLayout.ChooseSubnet(["default", "192.0.2.0/24"], 5));
        Assert.Equal(6, NetnsLayout.ChooseSubnet(["10.254.5.0/24", "10.254.5.1"], 5));
        Assert.Equal(0, NetnsLayout.ChooseSubnet(["10.254.255.0/24"], 255));
        Assert.Null(NetnsLayout.ChooseSubnet(["10.0.0.0/8"], 0));
        Assert.Null(NetnsLayout.ChooseSubnet(["10.254.0.0/16"], 9));
    }

    [Fact]
    public void Rules_redirect_outbound_and_inbound_tcp_but_never_the_proxy_loopback_or_admin()
    {
        Assert.Equal("""
            *nat
            :WEFT_OUTPUT - [0:0]
            :WEFT_INBOUND - [0:0]
            -A OUTPUT -p tcp -j WEFT_OUTPUT
            -A WEFT_OUTPUT -m owner --uid-owner 1337 -j RETURN
            -A WEFT_OUTPUT -o lo -j RETURN
            -A WEFT_OUTPUT -d 127.0.0.0/8 -j RETURN
            -A WEFT_OUTPUT -p tcp -j REDIRECT --to-ports 15001
            -A PREROUTING -i eth0 -p tcp -j WEFT_INBOUND
            -A WEFT_INBOUND -p tcp --dport 15000 -j RETURN
            -A WEFT_INBOUND -p tcp -j REDIRECT --to-ports 15006
            COMMIT

            """.ReplaceLineEndings("\n"), InterceptionRules.Restore());
    }

    [Fact]
    public void Hosts_name_services_of_the_own_namespace_bare_and_every_service_qualified()
    {
        var hosts = ServiceHosts.Render("default", new Dictionary<(string, string), string>
        {
            [("shop", "catalog")] = "10.255.0.9",
            [("default", "catalog")] = "10.255.0.7",
        });
        Assert.Contains("127.0.0.1\tlocalhost\n", hosts);
        Assert.Contains("10.255.0.7\tcatalog catalog.default catalog.default.svc\n", hosts);
        Assert.Contains("10.255.0.9\tcatalog.shop catalog.shop.svc\n", hosts);
        Assert.True(hosts.IndexOf("10.255.0.7", StringComparison.Ordinal) < hosts.IndexOf("10.255.0.9", StringComparison.Ordinal));
    }

    [Fact]
    public void An_isolated_replica_dials_upstreams_by_name_and_runs_in_its_namespace()
    {
        var topology = new Topology("t", "/topo", [],
        [
            new Workload("client", "client", "v1", "default", Weft.Model.Resources.EquatableMap.From([]), 1, "http", 8080, ["sleep", "3600"], new Dictionary<string, string>(), ["catalog", "ratings"]),
        ], null);
        var layout = NetnsLayout.Create("wf0001", 3);
        var port = 30000;
        var plan = LaunchPlan.Create(topology, new LaunchOptions("http://10.254.3.1:15010", Netns: layout,
            ServicePorts: new Dictionary<string, int> { ["default/catalog"] = 8080, ["default/ratings"] = 9090 }), () => port++);

        var replica = Assert.Single(plan.Replicas);
        Assert.Equal("catalog:8080", replica.AppEnvironment["WEFT_UPSTREAM_CATALOG"]);
        Assert.Equal("ratings:9090", replica.AppEnvironment["WEFT_UPSTREAM_RATINGS"]);
        Assert.Equal(new Uri("http://10.254.3.2:15000/ready"), replica.AdminReadyUrl);
        Assert.Equal(15006, replica.InboundPort);
        Assert.Contains("--mode transparent", string.Join(' ', replica.ProxyArguments));
        Assert.Contains("--admin-address 10.254.3.2", string.Join(' ', replica.ProxyArguments));
        Assert.Contains("--control http://10.254.3.1:15010", string.Join(' ', replica.ProxyArguments));
        Assert.DoesNotContain("--upstream", replica.ProxyArguments);

        var app = replica.AppProcess();
        Assert.EndsWith("ip", app.FileName);
        Assert.Equal(["netns", "exec", "wf0001-client-0", "setpriv"], app.Arguments.Take(4));
        Assert.Equal(["--", "sleep", "3600"], app.Arguments.TakeLast(3)); // as uid 1338, without capabilities (LockedAppPlanTests)
        var proxy = replica.ProxyProcess(new WeftCommandLine("/usr/bin/dotnet", ["/weft.dll"]));
        Assert.Equal(["netns", "exec", "wf0001-client-0", "setpriv", "--reuid", "1337", "--regid", "1337", "--clear-groups", "--pdeathsig", "KILL", "--", "/usr/bin/dotnet", "/weft.dll", "proxy"],
            proxy.Arguments.Take(15));
        Assert.Equal("/", proxy.WorkingDirectory); // the topology's folder may be closed to uid 1337

        // Staged: weft-proxy runs directly, with the proxy command's options and no verb.
        var staged = replica.ProxyProcess(new WeftCommandLine("/var/lib/weft/netns/wf0001/weft-proxy", [], ProxyOnly: true));
        Assert.Equal(["--", "/var/lib/weft/netns/wf0001/weft-proxy", "--service", "client"], staged.Arguments.Skip(11).Take(4));
    }

    [Fact]
    public void Sidecars_run_what_was_staged_for_them()
    {
        var dotnet = new WeftCommandLine("/usr/bin/dotnet", ["/root/src/weft/.build/bin/Weft.Cli/release/weft.dll"]);
        var apphost = new WeftCommandLine("/root/src/weft/.build/bin/Weft.Cli/release/weft", []);
        const string stage = "/var/lib/weft/netns/wf0001";

        Assert.Equal(new WeftCommandLine(stage + "/weft-proxy", [], ProxyOnly: true), SidecarStage.Choose(stage, dotnet, nativeProxyBuilt: true, runtimeChoice: null));
        Assert.Equal(new WeftCommandLine(stage + "/weft-proxy", [], ProxyOnly: true), SidecarStage.Choose(stage, dotnet, nativeProxyBuilt: true, runtimeChoice: "native"));
        // WEFT_PROXY_RUNTIME=jit, or no weft-proxy: this weft, from the stage.
        var jit = SidecarStage.Choose(stage, dotnet, nativeProxyBuilt: true, runtimeChoice: "jit");
        Assert.Equal(("/usr/bin/dotnet", stage + "/weft.dll", false), (jit.FileName, jit.Prefix.Single(), jit.ProxyOnly));
        var host = SidecarStage.Choose(stage, apphost, nativeProxyBuilt: false, runtimeChoice: null);
        Assert.Equal((stage + "/weft", 0), (host.FileName, host.Prefix.Count));

        Assert.Throws<ArgumentException>(() => new WeftCommandLine(stage + "/weft-proxy", [], ProxyOnly: true).Spec("control", ProcessRole.ControlPlane, ["control"], "/"));
    }

    [Fact]
    public void Readable_by_others_means_every_folder_above_is_searchable()
    {
        var root = Path.Combine(Path.GetTempPath(), "weft-readable-" + Guid.NewGuid().ToString("N")[..8]);
        var file = Path.Combine(root, "home", "weft.dll");
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        File.WriteAllText(file, "");
        try
        {
            File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
            File.SetUnixFileMode(root, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.OtherExecute);
            Assert.True(SidecarStage.ReadableByOthers(file));
            File.SetUnixFileMode(root, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute); // 0700, like a Debian 12 home
            Assert.False(SidecarStage.ReadableByOthers(file));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }
}
