using System.Globalization;
using Weft.Cli.Up.Isolation;
using Weft.Model.Topology;

namespace Weft.Cli.Up;

/// <summary>How `weft up` reaches the control plane and where the ingress gateway listens.</summary>
/// <param name="ControlAddress">The discovery (gRPC) address every proxy is given with --control.</param>
/// <param name="IngressPort">`weft up --ingress-port`; null: the topology's ingress port.</param>
/// <param name="Environment">Lookups for names the mesh does not set (the supervisor's own env).</param>
/// <param name="Netns">`--isolation netns`: each replica in its own namespace of this layout, transparently intercepted.</param>
/// <param name="ServicePorts">With Netns: "namespace/name" to each Service's port, for `WEFT_UPSTREAM_S=S:PORT` (else 8080).</param>
/// <param name="DrainDeadline">How long the ingress gateway lets its requests in flight finish when it stops (its --drain-seconds); null: <see cref="MeshShutdown.DefaultDrainDeadline"/>.</param>
/// <param name="TokenFiles">"namespace/service-account" to its bootstrap token file (<see cref="BootstrapTokenFiles"/>), passed with --bootstrap-token-file.</param>
/// <param name="CaFile">The mesh's root certificates, passed with --ca-file: what the TLS discovery port's certificate must chain to.</param>
/// <param name="AppUser">With Netns: who the apps run as; null: <see cref="Isolation.AppUser.Dedicated"/>.</param>
/// <param name="GatewayControlAddress">
/// The ingress gateway's --control when it differs from the sidecars' (with Netns the gateway stays in the
/// host's namespace and registers 127.0.0.1, so it must reach discovery from there: the control plane
/// admits a node only from the address it registers); null: <paramref name="ControlAddress"/>.
/// </param>
internal sealed record LaunchOptions(
    string ControlAddress = "http://127.0.0.1:15010",
    int? IngressPort = null,
    Func<string, string?>? Environment = null,
    NetnsLayout? Netns = null,
    IReadOnlyDictionary<string, int>? ServicePorts = null,
    TimeSpan? DrainDeadline = null,
    IReadOnlyDictionary<string, string>? TokenFiles = null,
    string? CaFile = null,
    AppUser? AppUser = null,
    string? GatewayControlAddress = null)
{
    /// <summary>--bootstrap-token-file for the account, when there is a file for it; --ca-file, when there is one.</summary>
    public IEnumerable<string> TokenArguments(string ns, string account) =>
        (TokenFiles?.GetValueOrDefault($"{ns}/{account}") is { } file ? new[] { "--bootstrap-token-file", file } : [])
            .Concat(CaFile is { } ca ? ["--ca-file", ca] : []);
}

/// <summary>
/// Everything `weft up` starts for a topology, with every port chosen: pure (ports come from the
/// caller), so what each process gets is tested without starting any.
/// </summary>
internal sealed record LaunchPlan(IReadOnlyList<ReplicaLaunch> Replicas, GatewayLaunch? Gateway)
{
    /// <summary>Plans every replica and the gateway. <paramref name="nextPort"/> is usually <c>new PortAllocator().Next</c>.</summary>
    public static LaunchPlan Create(Topology topology, LaunchOptions options, Func<int> nextPort)
    {
        var lookup = options.Environment ?? System.Environment.GetEnvironmentVariable;
        var replicas = new List<ReplicaLaunch>();
        foreach (var workload in topology.Workloads)
            for (var i = 0; i < workload.Replicas; i++)
                replicas.Add(options.Netns is { } netns
                    ? PlanIsolatedReplica(topology, workload, i, netns.Replica($"{workload.Name}-{Text(i)}", replicas.Count), options, lookup, nextPort)
                    : PlanReplica(topology, workload, i, options, lookup, nextPort));

        GatewayLaunch? gateway = null;
        if (topology.Ingress is { } ingress)
        {
            var port = options.IngressPort ?? ingress.Port;
            var admin = nextPort();
            var drain = (options.DrainDeadline ?? MeshShutdown.DefaultDrainDeadline).TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture);
            gateway = new GatewayLaunch(port, admin, ingress.Service, topology.Directory,
            [
                "proxy", "--gateway", "ingress", "--instance", GatewayLaunch.ProcessName, "--gateway-port", Text(port), "--default-service", ingress.Service,
                "--admin-port", Text(admin), "--control", options.GatewayControlAddress ?? options.ControlAddress, "--drain-seconds", drain,
                .. options.TokenArguments("default", BootstrapTokenFiles.GatewayAccount),
            ]);
        }
        return new LaunchPlan(replicas, gateway);
    }

    /// <summary>
    /// The app's env and command line: what the mesh sets (PORT, identity, WEFT_UPSTREAM_&lt;S&gt;) wins over
    /// the workload's env, and both expand ${NAME} against it before the launcher's own env.
    /// </summary>
    /// <param name="home">The app's HOME when it runs as another user than the launcher; the workload's own HOME wins.</param>
    private static (Dictionary<string, string> Env, string[] Command) AppLaunch(Workload workload, string instance, int appPort,
        IEnumerable<(string Service, string Address)> upstreams, Func<string, string?> lookup, string? home = null)
    {
        if (home is not null)
        {
            var launcher = lookup;
            lookup = name => name == "HOME" ? home : launcher(name);
        }
        var mesh = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["PORT"] = Text(appPort),
            ["WEFT_INSTANCE"] = instance,
            ["WEFT_SERVICE"] = workload.Service,
            ["WEFT_VERSION"] = workload.Version,
            ["WEFT_NAMESPACE"] = workload.Namespace,
        };
        foreach (var (service, address) in upstreams) mesh[UpstreamVariable(service)] = address;

        string? Lookup(string name) => mesh.TryGetValue(name, out var v) ? v : lookup(name);
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (k, v) in workload.Env) env[k] = EnvExpansion.Expand(v, Lookup);
        foreach (var (k, v) in mesh) env[k] = v;
        if (home is not null) env.TryAdd("HOME", home);
        string? LookupApp(string name) => env.TryGetValue(name, out var v) ? v : lookup(name);
        var command = workload.Command.Select(a => EnvExpansion.Expand(a, LookupApp)).ToArray();
        return (env, command);
    }

    private static ReplicaLaunch PlanReplica(Topology topology, Workload workload, int index, LaunchOptions options,
        Func<string, string?> lookup, Func<int> nextPort)
    {
        if (workload.Command.Count == 0)
            throw new ArgumentException($"workload {workload.Name} has no command", nameof(topology));
        var instance = $"{workload.Name}-{Text(index)}";
        var appPort = nextPort();
        var inboundPort = nextPort();
        var adminPort = nextPort();
        var outbound = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var upstream in workload.Upstreams) outbound[upstream] = nextPort();

        // What the mesh sets wins over the workload's env: the app must listen on PORT and dial
        // its upstreams where its sidecar waits.
        var (env, command) = AppLaunch(workload, instance, appPort,
            outbound.Select(o => (o.Key, $"127.0.0.1:{Text(o.Value)}")), lookup);

        var proxy = new List<string>
        {
            "proxy", "--service", workload.Service, "--version", workload.Version, "--namespace", workload.Namespace,
            "--instance", instance, "--app-port", Text(appPort), "--app-protocol", workload.Protocol,
            "--inbound-port", Text(inboundPort), "--admin-port", Text(adminPort),
        };
        foreach (var (upstream, port) in outbound) proxy.AddRange(["--upstream", $"{upstream}={Text(port)}"]);
        proxy.AddRange(["--control", options.ControlAddress]);
        proxy.AddRange(options.TokenArguments(workload.Namespace, workload.Service));
        foreach (var (k, v) in workload.Labels) proxy.AddRange(["--label", $"{k}={v}"]);

        return new ReplicaLaunch(instance, workload, index, appPort, inboundPort, adminPort, outbound, env,
            command[0], command[1..], topology.Directory, proxy);
    }

    /// <summary>
    /// A replica in its own network namespace: the sidecar intercepts transparently on the CONTRACT
    /// ports (15000 admin, 15001 outbound, 15006 inbound) of the namespace's address, the app dials its
    /// upstreams by Service name and port, and the control plane is reached on the bridge.
    /// </summary>
    private static ReplicaLaunch PlanIsolatedReplica(Topology topology, Workload workload, int index, ReplicaNetwork network,
        LaunchOptions options, Func<string, string?> lookup, Func<int> nextPort)
    {
        if (workload.Command.Count == 0)
            throw new ArgumentException($"workload {workload.Name} has no command", nameof(topology));
        var instance = $"{workload.Name}-{Text(index)}";
        var appPort = nextPort();
        // The app is not root: root's HOME would be one it cannot write.
        var user = options.AppUser ?? AppUser.Dedicated;
        var (env, command) = AppLaunch(workload, instance, appPort,
            workload.Upstreams.Select(u => (u, $"{u}:{Text(options.ServicePorts?.GetValueOrDefault(workload.Namespace + "/" + u) is > 0 and var p ? p : 8080)}")), lookup, user.Home);

        var proxy = new List<string>
        {
            "proxy", "--service", workload.Service, "--version", workload.Version, "--namespace", workload.Namespace,
            "--instance", instance, "--app-port", Text(appPort), "--app-protocol", workload.Protocol,
            "--mode", "transparent", "--address", network.Address,
            "--inbound-port", Text(InterceptionRules.InboundPort), "--outbound-port", Text(InterceptionRules.OutboundPort),
            "--admin-port", Text(InterceptionRules.AdminPort), "--admin-address", network.Address,
            "--control", options.ControlAddress,
        };
        proxy.AddRange(options.TokenArguments(workload.Namespace, workload.Service));
        foreach (var (k, v) in workload.Labels) proxy.AddRange(["--label", $"{k}={v}"]);

        return new ReplicaLaunch(instance, workload, index, appPort, InterceptionRules.InboundPort, InterceptionRules.AdminPort,
            new Dictionary<string, int>(), env, command[0], command[1..], topology.Directory, proxy, network, user);
    }

    /// <summary>WEFT_UPSTREAM_&lt;S&gt;: upper case, '-' as '_' (CONTRACT.md).</summary>
    public static string UpstreamVariable(string service) =>
        "WEFT_UPSTREAM_" + service.ToUpperInvariant().Replace('-', '_');

    private static string Text(int n) => n.ToString(CultureInfo.InvariantCulture);
}

/// <summary>One replica of a workload: its app and its sidecar, with their ports.</summary>
/// <param name="OutboundPorts">Upstream service to the sidecar's local port for it.</param>
/// <param name="ProxyArguments">The sidecar's arguments, starting with the `proxy` verb.</param>
/// <param name="WorkingDirectory">The app's (and, without isolation, the sidecar's) working directory: the topology's folder, or where the app was staged.</param>
/// <param name="AppUser">With isolation, who the app runs as (never root, never the sidecars' uid); null: as whoever runs weft up.</param>
internal sealed record ReplicaLaunch(
    string Instance,
    Workload Workload,
    int Index,
    int AppPort,
    int InboundPort,
    int AdminPort,
    IReadOnlyDictionary<string, int> OutboundPorts,
    IReadOnlyDictionary<string, string> AppEnvironment,
    string AppFileName,
    IReadOnlyList<string> AppArguments,
    string WorkingDirectory,
    IReadOnlyList<string> ProxyArguments,
    ReplicaNetwork? Network = null,
    AppUser? AppUser = null)
{
    /// <summary>What the sidecar's process name adds to the instance (the app's process name is the instance).</summary>
    public const string ProxySuffix = "/proxy";

    /// <summary>Where the sidecar's admin port and inbound listener are reached from `weft up`.</summary>
    public string Address => Network?.Address ?? "127.0.0.1";

    /// <summary>The sidecar's admin endpoint (/ready, /stats/prometheus, /clusters are below it).</summary>
    public Uri AdminUrl => new($"http://{Address}:{AdminPort.ToString(CultureInfo.InvariantCulture)}/");

    public Uri AdminReadyUrl => new(AdminUrl, "ready");

    /// <summary>The supervisor's name for the sidecar's process.</summary>
    public string ProxyName => Instance + ProxySuffix;

    /// <remarks>
    /// Isolated, the app runs as <see cref="AppUser"/> with every capability gone for good: none
    /// effective, permitted, inheritable or ambient, an empty bounding set and no_new_privs, so no
    /// setuid program or file capability gives one back. Without CAP_NET_ADMIN it cannot change its
    /// namespace's rules, without CAP_SYS_ADMIN it cannot setns(2) out of the namespace, and as neither
    /// root nor uid 1337 its connections are redirected to the sidecar. A uid change clears the
    /// parent-death signal, so it is set again (as for the sidecar).
    /// </remarks>
    public ProcessSpec AppProcess()
    {
        if (Network is not { } net) return new(Instance, ProcessRole.App, AppFileName, AppArguments, AppEnvironment, WorkingDirectory);
        var user = AppUser ?? Isolation.AppUser.Dedicated;
        return new(Instance, ProcessRole.App, ReplicaNetwork.IpTool,
        [
            "netns", "exec", net.Namespace, "setpriv", "--reuid", user.UidText, "--regid", user.GidText, "--clear-groups",
            "--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all", "--no-new-privs", "--pdeathsig", "KILL",
            "--", AppFileName, .. AppArguments,
        ], AppEnvironment, WorkingDirectory);
    }

    public ProcessSpec ProxyProcess(WeftCommandLine weft)
    {
        var spec = weft.Spec(ProxyName, ProcessRole.Proxy, ProxyArguments, WorkingDirectory);
        if (Network is not { } net) return spec;
        // The sidecar runs as its own uid, which the namespace's rules exempt from redirection
        // (InterceptionRules); a uid change clears the parent-death signal, so it is set again.
        var uid = InterceptionRules.ProxyUid.ToString(CultureInfo.InvariantCulture);
        return spec with
        {
            FileName = ReplicaNetwork.IpTool,
            Arguments = ["netns", "exec", net.Namespace, "setpriv", "--reuid", uid, "--regid", uid, "--clear-groups",
                "--pdeathsig", "KILL", "--", spec.FileName, .. spec.Arguments],
            Environment = new Dictionary<string, string>(spec.Environment) { ["HOME"] = "/tmp" },
            // The topology's folder may be one uid 1337 cannot enter; the sidecar needs no folder of its own.
            WorkingDirectory = "/",
        };
    }
}

/// <summary>The ingress gateway: a `weft proxy --gateway ingress` listening on Port.</summary>
internal sealed record GatewayLaunch(int Port, int AdminPort, string DefaultService, string WorkingDirectory, IReadOnlyList<string> ProxyArguments)
{
    /// <summary>The gateway's process name and proxy id.</summary>
    public const string ProcessName = "ingress";

    public Uri AdminUrl => new($"http://127.0.0.1:{AdminPort.ToString(CultureInfo.InvariantCulture)}/");

    public Uri AdminReadyUrl => new(AdminUrl, "ready");

    public ProcessSpec ProxyProcess(WeftCommandLine weft) =>
        weft.Spec(ProcessName, ProcessRole.Proxy, ProxyArguments, WorkingDirectory);
}

/// <summary>How to run this same `weft` again (for `weft proxy`, `weft control` children).</summary>
/// <param name="ProxyOnly">FileName is weft-proxy, the proxy command alone: it takes `weft proxy`'s options without the verb.</param>
internal sealed record WeftCommandLine(string FileName, IReadOnlyList<string> Prefix, bool ProxyOnly = false)
{
    /// <summary>The running weft: `dotnet weft.dll` when run through the dotnet host, else the apphost.</summary>
    public static WeftCommandLine Current()
    {
        var host = Environment.ProcessPath ?? "dotnet";
        var assembly = typeof(WeftCommandLine).Assembly.Location;
        return Path.GetFileNameWithoutExtension(host) == "dotnet" ? new(host, [assembly]) : new(host, []);
    }

    /// <summary>The same weft with its files in <paramref name="directory"/> (a copy of its folder).</summary>
    public WeftCommandLine Relocated(string directory) => Prefix is [var assembly]
        ? this with { Prefix = [Path.Combine(directory, Path.GetFileName(assembly))] }
        : this with { FileName = Path.Combine(directory, Path.GetFileName(FileName)) };

    public ProcessSpec Spec(string name, ProcessRole role, IReadOnlyList<string> arguments, string workingDirectory)
    {
        if (ProxyOnly && arguments is not ["proxy", ..])
            throw new ArgumentException($"{FileName} runs only the proxy command, not `{string.Join(' ', arguments)}`", nameof(arguments));
        return new(name, role, FileName, [.. Prefix, .. ProxyOnly ? arguments.Skip(1) : arguments], new Dictionary<string, string>(), workingDirectory);
    }
}
