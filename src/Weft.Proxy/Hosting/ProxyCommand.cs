using System.CommandLine;
using System.Globalization;
using System.Net;
using Microsoft.Extensions.Logging;
using Weft.Protocol.Discovery;
using Weft.Proxy.Discovery;
using Weft.Proxy.Security;
using InterceptionMode = Weft.Protocol.Discovery.Interception;

namespace Weft.Proxy.Hosting;

/// <summary>
/// `weft proxy`: one sidecar (or gateway) beside one workload, fed by the control plane. The same
/// options and action serve `weft-proxy` (Weft.Proxy.Native), the proxy compiled ahead of time,
/// whose whole command line is this command's.
/// </summary>
public static class ProxyCommand
{
    public const string Description = "Run one sidecar (or gateway) beside one workload";

    /// <summary>`weft proxy`, a subcommand of weft's.</summary>
    public static Command Create() => Configure(new Command("proxy", Description));

    /// <summary>Adds the proxy's options and action to <paramref name="command"/> (a subcommand, or a root command of its own).</summary>
    public static Command Configure(Command command)
    {
        var service = new Option<string?>("--service") { Description = "The Service this workload serves (sidecar), or the gateway's name" };
        var version = new Option<string>("--version") { Description = "The workload's version", DefaultValueFactory = _ => "v1" };
        var ns = new Option<string>("--namespace", "-n") { Description = "The workload's namespace", DefaultValueFactory = _ => "default" };
        var instance = new Option<string?>("--instance") { Description = "Unique instance id (default: <service>-<pid>)" };
        var appPort = new Option<int>("--app-port") { Description = "Where the local app listens on 127.0.0.1 (0: no app)" };
        var appProtocol = new Option<string>("--app-protocol") { Description = "http | http2 | grpc | tcp | tls | auto (detected per connection)", DefaultValueFactory = _ => "http" };
        var inboundPort = new Option<int>("--inbound-port") { Description = "Port peers dial to reach this workload", DefaultValueFactory = _ => 15006 };
        var adminPort = new Option<int>("--admin-port") { Description = "Admin port (/ready, /stats/prometheus, /config_dump, /clusters)", DefaultValueFactory = _ => 15000 };
        var address = new Option<string>("--address") { Description = "Address peers dial for the inbound listener", DefaultValueFactory = _ => "127.0.0.1" };
        var upstreams = new Option<string[]>("--upstream") { Description = "SERVICE=PORT: a local outbound port for an upstream service (repeatable)", AllowMultipleArgumentsPerToken = false };
        var labels = new Option<string[]>("--label") { Description = "KEY=VALUE workload label (repeatable)" };
        var control = new Option<string>("--control") { Description = "Control plane discovery address", DefaultValueFactory = _ => Environment.GetEnvironmentVariable("WEFT_DISCOVERY") ?? "http://127.0.0.1:15010" };
        var mode = new Option<string>("--mode") { Description = "explicit (a local port per upstream) | transparent (iptables redirects outbound TCP to --outbound-port; docs/transparent.md)", DefaultValueFactory = _ => "explicit" };
        var outboundPort = new Option<int>("--outbound-port") { Description = "Transparent mode: where redirected outbound connections arrive", DefaultValueFactory = _ => 15001 };
        var adminAddress = new Option<string>("--admin-address") { Description = "Address the admin port binds", DefaultValueFactory = _ => "127.0.0.1" };
        var gateway = new Option<string?>("--gateway") { Description = "ingress | egress: run as a gateway instead of a sidecar" };
        var gatewayName = new Option<string>("--gateway-name") { Description = "The Gateway resource this gateway implements", DefaultValueFactory = _ => "ingress" };
        var gatewayPort = new Option<int>("--gateway-port") { Description = "The port the gateway serves", DefaultValueFactory = _ => 8080 };
        var defaultService = new Option<string?>("--default-service") { Description = "Gateway: the Service it forwards to unless a route says otherwise" };
        var drain = new Option<double>("--drain-seconds") { Description = "How long in-flight requests may finish on shutdown", DefaultValueFactory = _ => 5 };
        var inline = new Option<bool>("--inline-completions")
        {
            Description = "Handle requests on the socket thread, no thread-pool hop (pair with DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1); default: env WEFT_PROXY_INLINE_COMPLETIONS=1",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("WEFT_PROXY_INLINE_COMPLETIONS") == "1",
        };
        var tokenFile = new Option<string?>("--bootstrap-token-file")
        {
            Description = "File holding the bootstrap token of this workload's service account (weft token create; required): it admits the proxy to the control plane and obtains its certificate; default: env WEFT_BOOTSTRAP_TOKEN_FILE",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("WEFT_BOOTSTRAP_TOKEN_FILE") is { Length: > 0 } file ? file : null,
        };
        var caFile = new Option<string?>("--ca-file")
        {
            Description = "PEM root certificate(s) the control plane's TLS certificate must chain to, for an https:// --control (port 15012); default: env WEFT_CA_FILE",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("WEFT_CA_FILE") is { Length: > 0 } file ? file : null,
        };
        var loops = new Option<int>("--loops")
        {
            Description = "Event-loop threads of the proxy's own socket transport (the default; env WEFT_PROXY_TRANSPORT=sockets uses .NET's)",
            DefaultValueFactory = _ => 1,
        };

        Option[] options =
        [
            service, version, ns, instance, appPort, appProtocol, inboundPort, adminPort, address, upstreams, labels,
            control, mode, outboundPort, adminAddress, gateway, gatewayName, gatewayPort, defaultService, drain, inline, loops, tokenFile, caFile,
        ];
        // --version is the workload's version; a root command's built-in one (weft-proxy's) gives way.
        foreach (var builtIn in command.Options.OfType<VersionOption>().ToList())
            command.Options.Remove(builtIn);
        foreach (var option in options)
            command.Options.Add(option);
        command.SetAction(async (parse, _) =>
        {
            var errors = new List<string>();
            var isGateway = parse.GetValue(gateway) is { } g;
            if (isGateway && parse.GetValue(gateway) != "ingress") errors.Add($"--gateway {parse.GetValue(gateway)}: only ingress is available in this release");
            var transparent = parse.GetValue(mode) == "transparent";
            if (!transparent && parse.GetValue(mode) != "explicit") errors.Add($"--mode {parse.GetValue(mode)}: expected explicit or transparent");
            if (transparent && isGateway) errors.Add("--mode transparent: only a sidecar intercepts transparently");
            if (transparent && parse.GetValue(upstreams) is { Length: > 0 }) errors.Add("--upstream: transparent mode captures every upstream; no local ports");
            if (!IPAddress.TryParse(parse.GetValue(adminAddress), out var adminIp)) errors.Add($"--admin-address {parse.GetValue(adminAddress)}: not an IP address");
            var svc = parse.GetValue(service) ?? (isGateway ? parse.GetValue(gatewayName) : null);
            if (string.IsNullOrEmpty(svc)) errors.Add("--service is required for a sidecar");
            if (isGateway && string.IsNullOrEmpty(parse.GetValue(defaultService))) errors.Add("--default-service is required for a gateway");
            if (!Uri.TryCreate(parse.GetValue(control), UriKind.Absolute, out var controlUri)) errors.Add($"--control {parse.GetValue(control)}: not a URL");
            var node = new Node
            {
                Service = svc ?? "",
                Version = parse.GetValue(version)!,
                Namespace = parse.GetValue(ns)!,
                Address = parse.GetValue(address)!,
                Role = isGateway ? Role.Gateway : Role.Sidecar,
                AppPort = (uint)Math.Max(0, parse.GetValue(appPort)),
                AppProtocol = parse.GetValue(appProtocol)!,
                InboundPort = isGateway ? 0 : (uint)parse.GetValue(inboundPort),
                GatewayPort = isGateway ? (uint)parse.GetValue(gatewayPort) : 0,
                GatewayName = isGateway ? parse.GetValue(gatewayName)! : "",
                DefaultService = parse.GetValue(defaultService) ?? "",
                Interception = transparent ? InterceptionMode.Transparent : InterceptionMode.Explicit,
                OutboundCapturePort = transparent ? (uint)parse.GetValue(outboundPort) : 0,
            };
            node.Id = parse.GetValue(instance) ?? $"{node.Service}-{Environment.ProcessId}";
            foreach (var u in parse.GetValue(upstreams) ?? [])
            {
                if (SplitPair(u, out var k, out var v) && uint.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is > 0 and < 65536)
                    node.Upstreams[k] = port;
                else errors.Add($"--upstream {u}: expected SERVICE=PORT");
            }
            foreach (var l in parse.GetValue(labels) ?? [])
            {
                if (SplitPair(l, out var k, out var v)) node.Labels[k] = v;
                else errors.Add($"--label {l}: expected KEY=VALUE");
            }
            if (errors.Count > 0)
            {
                foreach (var e in errors) Console.Error.WriteLine($"weft proxy: {e}");
                return 2;
            }
            var admin = parse.GetValue(adminPort);
            node.AdminUrl = $"http://{adminIp}:{admin}";
            if (parse.GetValue(loops) is < 1 or > 64)
            {
                Console.Error.WriteLine($"weft proxy: --loops: must be between 1 and 64, got {parse.GetValue(loops)}");
                return 2;
            }
            var options = new ProxyHostOptions { InlineSocketCompletions = parse.GetValue(inline), LoopThreads = parse.GetValue(loops) };
            var token = parse.GetValue(tokenFile);
            if (token is null)
            {
                Console.Error.WriteLine("weft proxy: --bootstrap-token-file is required: the control plane admits a proxy only with its service account's token (weft token create " + node.Service + " -n " + node.Namespace + ")");
                return 2;
            }
            if (!File.Exists(token))
            {
                Console.Error.WriteLine($"weft proxy: --bootstrap-token-file {token}: no such file");
                return 2;
            }
            var ca = parse.GetValue(caFile);
            if (controlUri!.Scheme == Uri.UriSchemeHttps && ca is null)
            {
                Console.Error.WriteLine($"weft proxy: --control {controlUri}: TLS needs --ca-file, the mesh's root certificate (weft up: <data-dir>/ca/root-cert.pem)");
                return 2;
            }
            if (ca is not null && !File.Exists(ca))
            {
                Console.Error.WriteLine($"weft proxy: --ca-file {ca}: no such file");
                return 2;
            }
            return await RunAsync(node, adminIp!, admin, controlUri, TimeSpan.FromSeconds(parse.GetValue(drain)), options, token, ca).ConfigureAwait(false);
        });
        return command;
    }

    private static async Task<int> RunAsync(Node node, IPAddress adminAddress, int adminPort, Uri control, TimeSpan drain, ProxyHostOptions options, string tokenPath, string? caFile)
    {
        using var shutdown = new ShutdownSignal();
        using var parent = ParentWatch.WhenParentExits().Register(shutdown.Trigger);
        using var loggers = HostLogging.Create();
        var log = loggers.CreateLogger("weft.proxy");
        var identity = new ProxyIdentity(node.Service, node.Version, node.Namespace, node.Role);
        await using var host = new ProxyHost(identity, adminAddress, adminPort, loggers, options);
        try
        {
            await host.StartAsync(shutdown.Token).ConfigureAwait(false);
        }
        catch (IOException e)
        {
            Console.Error.WriteLine($"weft proxy: admin port {adminPort}: {e.Message}");
            return 1;
        }
        var token = new BootstrapTokenFile(tokenPath);
        ControlPlaneChannels channels;
        try
        {
            channels = new ControlPlaneChannels(control, caFile, host.Certificates);
        }
        catch (Exception e) when (e is ArgumentException or System.Security.Cryptography.CryptographicException or IOException)
        {
            Console.Error.WriteLine($"weft proxy: --ca-file {caFile}: {e.Message}");
            return 2;
        }
        using var discovery = DiscoveryClient.ForControlPlane(channels.Open(), node, host.ConfigSink, token.Headers, logger: loggers.CreateLogger<DiscoveryClient>());
        log.LogInformation("proxy {Id} ({Role}, {Mode}) started: admin {AdminUrl}, control {Control}, transport: {Transport}",
            node.Id, node.Role, node.Interception, node.AdminUrl, control, host.TransportDescription);
        // The certificate comes beside the config, not before it: plaintext routing works meanwhile.
        await using var certificates = new CertificateAgent(channels, token, node.Id, host.Certificates, loggers.CreateLogger<CertificateAgent>());
        certificates.Start();
        // Discovery keeps running until we stop: it reconnects by itself while the control plane is away.
        var discovering = discovery.RunAsync(shutdown.Token);
        try { await Task.Delay(Timeout.Infinite, shutdown.Token).ConfigureAwait(false); }
        catch (OperationCanceledException) { }
        log.LogInformation("proxy {Id} draining (up to {Seconds}s)", node.Id, drain.TotalSeconds);
        await host.StopAsync(drain).ConfigureAwait(false);
        try { await discovering.ConfigureAwait(false); }
        catch (OperationCanceledException) { }
        return 0;
    }

    private static bool SplitPair(string text, out string key, out string value)
    {
        var eq = text.IndexOf('=', StringComparison.Ordinal);
        key = eq > 0 ? text[..eq] : "";
        value = eq > 0 ? text[(eq + 1)..] : "";
        return eq > 0 && value.Length > 0;
    }
}
