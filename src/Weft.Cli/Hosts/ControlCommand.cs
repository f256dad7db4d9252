using System.CommandLine;
using System.Net;
using Microsoft.Extensions.Logging;
using Weft.Cli.Up;
using Weft.Control;
using Weft.Proxy.Hosting;

namespace Weft.Cli.Hosts;

/// <summary>`weft control`: the control plane alone, until SIGINT/SIGTERM.</summary>
internal static class ControlCommand
{
    public static Command Create()
    {
        var dataDir = new Option<string>("--data-dir") { Description = "Where config revisions and the registry are kept", DefaultValueFactory = _ => ".weft" };
        var store = new Option<string>("--store") { Description = "file (default), or etcd://HOST:PORT (not yet supported)", DefaultValueFactory = _ => "file" };
        var listen = new Option<string>("--listen") { Description = "Address to listen on", DefaultValueFactory = _ => "127.0.0.1" };
        var discoveryPort = new Option<int>("--discovery-port") { Description = "gRPC discovery port (HTTP/2 cleartext)", DefaultValueFactory = _ => 15010 };
        var discoveryTlsPort = new Option<int>("--discovery-tls-port") { Description = "gRPC discovery port over TLS (the mesh's CA; client certificates checked); 0: none", DefaultValueFactory = _ => 15012 };
        var apiPort = new Option<int>("--api-port") { Description = "HTTP API port", DefaultValueFactory = _ => 15014 };
        var discoveryAddress = new Option<string[]>("--discovery-address") { Description = "Also serve discovery (only) on this address (repeatable)" };
        var caDir = new Option<string?>("--ca-dir") { Description = "The CA's folder: root-cert.pem, ca-cert.pem, ca-key.pem, cert-chain.pem of your own, or where Weft makes its root and intermediate (default: DATA-DIR/ca)" };
        var trustBundleFile = new Option<string?>("--trust-bundle-file") { Description = "Keep this file current with the mesh's trust bundle (PEM roots, world-readable): what proxies' --ca-file names" };
        var command = new Command("control", "Run the control plane alone") { dataDir, store, listen, discoveryPort, discoveryTlsPort, apiPort, discoveryAddress, caDir, trustBundleFile };
        command.SetAction(async (parse, _) =>
        {
            if (parse.GetValue(store) is { } s && s != "file")
            {
                Console.Error.WriteLine($"weft control: --store {s}: only the file store is available in this release (etcd arrives with its issue)");
                return 2;
            }
            if (!IPAddress.TryParse(parse.GetValue(listen), out var address))
            {
                Console.Error.WriteLine($"weft control: --listen {parse.GetValue(listen)}: not an IP address");
                return 2;
            }
            var extra = new List<IPAddress>();
            foreach (var a in parse.GetValue(discoveryAddress) ?? [])
            {
                if (!IPAddress.TryParse(a, out var ip))
                {
                    Console.Error.WriteLine($"weft control: --discovery-address {a}: not an IP address");
                    return 2;
                }
                extra.Add(ip);
            }
            var options = new ControlPlaneOptions
            {
                DataDir = Path.GetFullPath(parse.GetValue(dataDir)!),
                ListenAddress = address,
                DiscoveryPort = parse.GetValue(discoveryPort),
                DiscoveryTlsPort = parse.GetValue(discoveryTlsPort),
                ApiPort = parse.GetValue(apiPort),
                DiscoveryAddresses = extra,
                CaDir = parse.GetValue(caDir) is { } ca ? Path.GetFullPath(ca) : null,
                TrustBundleFile = parse.GetValue(trustBundleFile) is { } bundle ? Path.GetFullPath(bundle) : null,
            };
            return await RunAsync(options).ConfigureAwait(false);
        });
        return command;
    }

    private static async Task<int> RunAsync(ControlPlaneOptions options)
    {
        using var shutdown = new ShutdownSignal();
        using var parent = ParentWatch.WhenParentExits().Register(shutdown.Trigger);
        using var loggers = HostLogging.Create();
        var log = loggers.CreateLogger("weft.control");
        var plane = new ControlPlane(options, loggers);
        try
        {
            await plane.StartAsync(shutdown.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or InvalidDataException or Weft.Control.Ca.CaException)
        {
            // Port in use, data dir locked by another control plane, a damaged revision, a CA file: say which, no trace.
            Console.Error.WriteLine($"weft control: {e.Message}");
            await plane.DisposeAsync().ConfigureAwait(false);
            return 1;
        }
        log.LogInformation("control plane ready: discovery {Discovery}, api {Api}, data {DataDir}",
            options.DiscoveryTlsPort == 0 ? $"{options.ListenAddress}:{options.DiscoveryPort}" : $"{options.ListenAddress}:{options.DiscoveryPort} (TLS :{options.DiscoveryTlsPort})", $"http://{options.ListenAddress}:{options.ApiPort}", options.DataDir);
        try { await Task.Delay(Timeout.Infinite, shutdown.Token).ConfigureAwait(false); }
        catch (OperationCanceledException) { }
        log.LogInformation("control plane stopping");
        await plane.DisposeAsync().ConfigureAwait(false);
        return 0;
    }
}
