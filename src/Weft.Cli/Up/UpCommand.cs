using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Weft.Cli.Commands;
using Weft.Cli.Hosts;
using Weft.Cli.Up.Isolation;
using Weft.Control.Translate;
using System.Collections.Immutable;
using System.Text.Json.Nodes;
using Weft.Control.Api;
using Weft.Model.Parsing;
using Weft.Model.Resources;
using Weft.Model.Serialization;
using Weft.Model.Topology;
using Weft.Proxy.Hosting;

namespace Weft.Cli.Up;

/// <summary>
/// `weft up`: the control plane, every workload of the topology with its sidecar, and the ingress
/// gateway, on this machine; blocks until Ctrl-C/SIGTERM, then stops everything in order.
/// </summary>
internal static class UpCommand
{
    private static readonly TimeSpan ReadyDeadline = TimeSpan.FromSeconds(60);

    public static Command Create()
    {
        var file = new Option<string?>("--file", "-f") { Description = "The topology file (default: examples/shop/mesh.yaml)" };
        var ingressPort = new Option<int?>("--ingress-port") { Description = "Where the ingress gateway listens (default: the topology's, 8080)" };
        var isolation = new Option<string>("--isolation") { Description = "none | netns (root: each workload in its own network namespace)", DefaultValueFactory = _ => "none" };
        var dataDir = new Option<string?>("--data-dir") { Description = "Control plane data (default: .weft/ beside the topology file)" };
        var discoveryPort = new Option<int>("--discovery-port") { Description = "Control plane discovery port", DefaultValueFactory = _ => 15010 };
        var discoveryTlsPort = new Option<int>("--discovery-tls-port") { Description = "Control plane discovery port over TLS (the sidecars' own)", DefaultValueFactory = _ => 15012 };
        var apiPort = new Option<int>("--api-port") { Description = "Control plane HTTP API port", DefaultValueFactory = _ => 15014 };
        var drainSeconds = new Option<double>("--drain-seconds")
        {
            Description = "On Ctrl-C/SIGTERM, how long requests in flight may take to finish before apps are stopped (then 10 s more at most for apps, proxies and control plane to exit)",
            DefaultValueFactory = _ => MeshShutdown.DefaultDrainDeadline.TotalSeconds,
        };
        var command = new Command("up", "Bring a whole mesh up on this machine: control plane, workloads with sidecars, ingress gateway")
        {
            file, ingressPort, isolation, dataDir, discoveryPort, discoveryTlsPort, apiPort, drainSeconds,
        };
        command.SetAction(async (parse, _) =>
        {
            var iso = parse.GetValue(isolation) ?? "none";
            if (iso is not ("none" or "netns"))
            {
                Console.Error.WriteLine($"weft up: --isolation {iso}: expected none or netns");
                return 2;
            }
            if (iso == "netns" && NetnsIsolation.Unavailable() is { } why)
            {
                Console.Error.WriteLine($"weft up: {why}");
                return 2;
            }
            var path = parse.GetValue(file) ?? DefaultTopology();
            if (path is null || !File.Exists(path))
            {
                Console.Error.WriteLine($"weft up: topology file {path ?? "examples/shop/mesh.yaml"} not found (give one with -f)");
                return 2;
            }
            var (topology, errors) = TopologyLoader.Load(Path.GetFullPath(path));
            if (topology is null || errors.Count > 0)
            {
                foreach (var e in errors) Console.Error.WriteLine(e);
                return 1;
            }
            if (parse.GetValue(drainSeconds) is < 0 or > 3600 or double.NaN)
            {
                Console.Error.WriteLine($"weft up: --drain-seconds {parse.GetValue(drainSeconds)}: expected 0 to 3600");
                return 2;
            }
            var settings = new UpSettings(topology, parse.GetValue(dataDir) is { } d ? Path.GetFullPath(d) : Path.Combine(topology.Directory, ".weft"),
                parse.GetValue(discoveryPort), parse.GetValue(discoveryTlsPort), parse.GetValue(apiPort), parse.GetValue(ingressPort), iso == "netns", TimeSpan.FromSeconds(parse.GetValue(drainSeconds)));
            return await RunAsync(settings).ConfigureAwait(false);
        });
        return command;
    }

    private sealed record UpSettings(Topology Topology, string DataDir, int DiscoveryPort, int DiscoveryTlsPort, int ApiPort, int? IngressPort, bool Netns, TimeSpan DrainDeadline)
    {
        public Uri Api => new($"http://127.0.0.1:{ApiPort.ToString(CultureInfo.InvariantCulture)}");

        /// <summary>What the sidecars dial: discovery over TLS.</summary>
        public string Discovery => $"https://127.0.0.1:{DiscoveryTlsPort.ToString(CultureInfo.InvariantCulture)}";
    }

    private static async Task<int> RunAsync(UpSettings settings)
    {
        var topology = settings.Topology;
        var ingress = settings.IngressPort ?? topology.Ingress?.Port;
        var busy = new[] { settings.DiscoveryPort, settings.DiscoveryTlsPort, settings.ApiPort }.Concat(ingress is { } i ? [i] : []).Where(p => !IsFree(p)).ToList();
        if (busy.Count > 0)
        {
            Console.Error.WriteLine($"weft up: port {string.Join(", ", busy)} already in use on 127.0.0.1 (is another `weft up` or `weft control` running?)");
            return 1;
        }

        using var shutdown = new ShutdownSignal();
        await using var supervisor = new ProcessSupervisor(Console.Out);
        var weft = WeftCommandLine.Current();
        // What proxies run: this weft, or with isolation a copy the sidecars' own uid can read.
        var proxyWeft = weft;
        WorkloadReporter? reporter = null;
        await using var replicas = new ReplicaControl(supervisor, settings.DrainDeadline, Console.Out);
        NetnsIsolation? isolation = null;
        AppUser? appUser = null;
        DemoStage? demo = null;
        LaunchPlan? plan = null;
        IReadOnlyDictionary<string, string>? tokenFiles = null;
        try
        {
            string[] controlArgs = ["control", "--data-dir", settings.DataDir, "--discovery-port", Text(settings.DiscoveryPort),
                "--discovery-tls-port", Text(settings.DiscoveryTlsPort), "--api-port", Text(settings.ApiPort)];
            if (settings.Netns)
            {
                NetnsIsolation.RemoveLeftovers(Console.Out);
                isolation = NetnsIsolation.Create(Console.Out, Random.Shared);
                Say($"isolation     network namespaces {isolation.Layout.Prefix}-* on bridge {isolation.Layout.Bridge} ({isolation.Layout.Cidr})");
                proxyWeft = SidecarStage.Create(isolation.StageDirectory, AppContext.BaseDirectory, weft);
                appUser = AppUser.Choose(Environment.GetEnvironmentVariable, ReadPasswd());
                Say($"apps          run as uid {appUser.UidText} gid {appUser.GidText} ({appUser.Source}), without capabilities");
                demo = CheckApps(topology, isolation, appUser);
                // Sidecars in the namespaces reach discovery on the bridge; the API stays on loopback.
                controlArgs = [.. controlArgs, "--discovery-address", isolation.Layout.BridgeAddress];
            }
            // Every sidecar obtains its certificate with its service account's token; with isolation the
            // sidecars' uid must read it, so it lives beside their copy of weft. The control plane keeps the
            // trust bundle there current (a sidecar restarted after a root rotation trusts its new certificate).
            var tokenFolder = isolation is not null ? Path.Combine(isolation.StageDirectory, "tokens") : Path.Combine(settings.DataDir, "tokens");
            var caFile = Path.Combine(tokenFolder, "ca.pem");
            controlArgs = [.. controlArgs, "--trust-bundle-file", caFile];
            supervisor.Start(weft.Spec("control", ProcessRole.ControlPlane, controlArgs, topology.Directory));
            if (!await ReadinessProbe.WaitAsync(new Uri(settings.Api, "/ready"), ReadyDeadline, shutdown.Token).ConfigureAwait(false))
                return Fail("the control plane was not ready within 60 s; see its output above");
            reporter = WorkloadReporter.Start(supervisor, settings.Api, replicas: replicas, dataDir: settings.DataDir);

            if (await ApplyConfigAsync(settings, shutdown.Token).ConfigureAwait(false) is { } applyError)
                return Fail(applyError);

            var options = new LaunchOptions(settings.Discovery, settings.IngressPort, DrainDeadline: settings.DrainDeadline);
            ImmutableDictionary<(string Namespace, string Name), string>? vips = null;
            if (isolation is not null)
            {
                var services = await ServicesAsync(settings.Api, settings.DataDir, shutdown.Token).ConfigureAwait(false);
                vips = ServiceVips.Allocate(services.Keys);
                options = options with
                {
                    ControlAddress = $"https://{isolation.Layout.BridgeAddress}:{Text(settings.DiscoveryTlsPort)}",
                    GatewayControlAddress = $"https://127.0.0.1:{Text(settings.DiscoveryTlsPort)}",
                    Netns = isolation.Layout,
                    AppUser = appUser,
                    ServicePorts = services.ToDictionary(s => s.Key.Namespace + "/" + s.Key.Name, s => s.Value, StringComparer.Ordinal),
                };
            }
            try
            {
                options = options with
                {
                    TokenFiles = tokenFiles = await BootstrapTokenFiles.CreateAsync(topology, settings.Api, settings.DataDir, tokenFolder,
                        isolation is not null ? InterceptionRules.ProxyUid : null, shutdown.Token).ConfigureAwait(false),
                    CaFile = caFile,
                };
            }
            catch (Exception e) when (e is InvalidOperationException or IOException or UnauthorizedAccessException)
            {
                return Fail(e.Message);
            }
            plan = LaunchPlan.Create(topology, options, new PortAllocator().Next);
            if (demo is not null) plan = demo.Apply(plan);
            if (isolation is not null)
                foreach (var r in plan.Replicas)
                    isolation.AddReplica(r.Network!, ServiceHosts.Render(r.Workload.Namespace, vips!));
            await MeshStartup.StartAsync(plan, supervisor, proxyWeft, ReadyDeadline, shutdown.Token).ConfigureAwait(false);
            await WaitForAppsAsync(topology, plan, shutdown.Token).ConfigureAwait(false);

            if (plan.Gateway is { } gateway) Say($"ingress       http://127.0.0.1:{Text(gateway.Port)}");
            Say($"control       {settings.Api.ToString().TrimEnd('/')} (discovery 127.0.0.1:{Text(settings.DiscoveryPort)}, over TLS {settings.Discovery[8..]}, data {settings.DataDir})");
            foreach (var r in plan.Replicas) Say($"proxy {r.Instance,-14} admin http://{r.Address}:{Text(r.AdminPort)}  inbound {r.Address}:{Text(r.InboundPort)}  app 127.0.0.1:{Text(r.AppPort)}{(r.Network is { } n ? " (netns " + n.Namespace + ")" : "")}");
            if (plan.Gateway is { } g) Say($"proxy {"ingress",-14} admin http://127.0.0.1:{Text(g.AdminPort)}");
            Say("mesh ready");
            replicas.MeshReady(plan);
            try { await Task.Delay(Timeout.Infinite, shutdown.Token).ConfigureAwait(false); }
            catch (OperationCanceledException) { }
            Say($"stopping: new requests first (ingress gateway, apps that only call), then requests in flight finish (up to {settings.DrainDeadline.TotalSeconds:0.#} s), then apps, proxies, control plane");
            return 0;
        }
        catch (OperationCanceledException) when (shutdown.Token.IsCancellationRequested)
        {
            Say("interrupted during start-up; stopping");
            return 130;
        }
        catch (TimeoutException e)
        {
            return Fail(e.Message);
        }
        catch (IsolationException e)
        {
            return Fail(e.Message);
        }
        finally
        {
            // A restart under way gives up first, so nothing starts again while the mesh stops.
            await replicas.DisposeAsync().ConfigureAwait(false);
            // Stopped first: what it would report now is the shutdown, and the control plane is about to go too.
            if (reporter is not null) await reporter.DisposeAsync().ConfigureAwait(false);
            await MeshShutdown.StopAsync(supervisor, plan, topology, settings.DrainDeadline, Console.Out).ConfigureAwait(false);
            // The sidecars are gone: the tokens they renewed with go too (only their hashes stay, in the control plane's file).
            BootstrapTokenFiles.Delete(tokenFiles);
            // After the processes: a namespace goes when its last process has left it.
            isolation?.Dispose();
            Say("stopped");
        }
    }

    /// <summary>
    /// Before anything starts: throws IsolationException, naming every workload, path and fix, unless
    /// every isolated app can start as <paramref name="user"/>. When the demo shop is what the uid cannot
    /// reach, it is staged first (<see cref="DemoStage"/>), and returned to be applied to the plan.
    /// </summary>
    private static DemoStage? CheckApps(Topology topology, NetnsIsolation isolation, AppUser user)
    {
        // Which files an app needs does not depend on its ports: a plan with made-up ones shows them
        // now, before the control plane (which the real plan needs) runs.
        var port = 0;
        var preview = LaunchPlan.Create(topology, new LaunchOptions(Netns: isolation.Layout, AppUser: user), () => ++port);
        var demo = DemoStage.Beside(AppContext.BaseDirectory, isolation.StageDirectory);
        if (demo is not null && preview.Replicas.Any(r => demo.Runs(r) && AppAccess.Problems(r, FileView.Host, Environment.GetEnvironmentVariable).Count > 0))
        {
            demo.Copy();
            Say($"demo shop     staged in {demo.Staged} and run from there: uid {user.UidText} cannot run it where the topology has it");
            preview = demo.Apply(preview);
        }
        else demo = null;
        if (AppAccess.Check(preview.Replicas, FileView.Host, Environment.GetEnvironmentVariable) is { } error)
            throw new IsolationException(error);
        return demo;
    }

    private static string? ReadPasswd()
    {
        try { return File.ReadAllText("/etc/passwd"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    /// <summary>
    /// Applies the topology's config files plus a Service for every workload no config declares, in one
    /// all-or-nothing apply; the control plane's errors name the user's files and lines.
    /// </summary>
    private const string StrictMeshConfig = "apiVersion: weft.dev/v1\nkind: MeshConfig\nmetadata: { name: default }\nspec:\n  mtls: { mode: STRICT }\n";

    private static async Task<string?> ApplyConfigAsync(UpSettings settings, CancellationToken ct)
    {
        var files = new List<ApiFile>();
        var declared = new List<Resource>();
        foreach (var path in settings.Topology.ConfigFiles.SelectMany(Expand))
        {
            var text = await File.ReadAllTextAsync(path, ct).ConfigureAwait(false);
            files.Add(new ApiFile(Path.GetRelativePath(Environment.CurrentDirectory, path), text));
            declared.AddRange(ResourceParser.Parse(text, path).Resources);
        }
        var implied = ImpliedServices.From(settings.Topology, declared);
        if (implied.Count > 0) files.Add(new ApiFile("<services implied by the topology>", ResourceYaml.Serialize(implied)));
        // weft up's mesh is mTLS only (docs/security.md): a topology that brings no MeshConfig of its own gets STRICT.
        if (!declared.OfType<MeshConfigResource>().Any())
            files.Add(new ApiFile("<weft up's default MeshConfig: mTLS STRICT>", StrictMeshConfig));
        if (files.Count == 0) return null;

        using var client = new ApiClient(settings.Api, settings.DataDir);
        var response = await client.PostAsync("/api/v1/apply", new ApplyRequest(files), ct).ConfigureAwait(false);
        if (response.Ok)
        {
            var result = response.Read<ChangeResponse>();
            Say(result.NewRevision ? $"config applied: revision {Text(result.Revision)}" : $"config unchanged: revision {Text(result.Revision)}");
            return null;
        }
        if ((int)response.Status == 422)
        {
            foreach (var e in response.Read<ValidationErrorsResponse>().Errors) Console.Error.WriteLine(e);
            return "the topology's config was rejected (nothing was applied)";
        }
        return "applying the topology's config failed: " + response.ErrorMessage();
    }

    /// <summary>Every Service the control plane holds, with its (first) port: the VIPs and WEFT_UPSTREAM_S of isolated workloads.</summary>
    private static async Task<Dictionary<(string Namespace, string Name), int>> ServicesAsync(Uri api, string dataDir, CancellationToken ct)
    {
        using var client = new ApiClient(api, dataDir);
        var response = await client.GetAsync("/api/v1/resources?kind=Service", ct).ConfigureAwait(false);
        if (!response.Ok) throw new IsolationException("listing the Services for their virtual IPs failed: " + response.ErrorMessage());
        var result = new Dictionary<(string, string), int>();
        foreach (var item in response.Read<ResourceListResponse>().Items)
        {
            var name = item["metadata"]?["name"]?.GetValue<string>();
            if (name is null) continue;
            var ns = item["metadata"]?["namespace"]?.GetValue<string>() ?? "default";
            var port = item["spec"]?["ports"] is JsonArray { Count: > 0 } ports && ports[0]?["port"] is { } p ? p.GetValue<int>() : 0;
            result[(ns, name)] = port;
        }
        return result;
    }

    private static IEnumerable<string> Expand(string path) =>
        Directory.Exists(path)
            ? Directory.EnumerateFiles(path).Where(f => f.EndsWith(".yaml", StringComparison.Ordinal) || f.EndsWith(".yml", StringComparison.Ordinal)).Order(StringComparer.Ordinal)
            : [path];

    /// <summary>
    /// Apps that receive traffic (some workload's upstream, or the ingress's service) must be listening
    /// before the mesh is called ready, or its first requests would meet a closed port.
    /// </summary>
    private static Task WaitForAppsAsync(Topology topology, LaunchPlan plan, CancellationToken ct)
    {
        var called = MeshShutdown.CalledServices(topology);
        return AppListening.WaitAsync(plan.Replicas.Where(r => called.Contains(r.Workload.Service)), ReadyDeadline, ct);
    }

    private static bool IsFree(int port)
    {
        try
        {
            using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            listener.Bind(new IPEndPoint(IPAddress.Loopback, port));
            return true;
        }
        catch (SocketException) { return false; }
    }

    private static string? DefaultTopology()
    {
        const string relative = "examples/shop/mesh.yaml";
        if (File.Exists(relative)) return relative;
        // ./weft may be run from another folder: look beside the repository this weft was built from.
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, relative);
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }

    private static int Fail(string message)
    {
        Console.Error.WriteLine($"weft up: {message}");
        return 1;
    }

    private static void Say(string line) => Console.Out.WriteLine("weft: " + line);

    private static string Text(long value) => value.ToString(CultureInfo.InvariantCulture);
}
