using System.Globalization;
using System.Net;
using System.Text.Json;
using Weft.Integration.Harness;
using Weft.Integration.Mesh;

namespace Weft.Integration.DataPlane;

/// <summary>The app behind one server-side sidecar: the Service it serves, where it listens, what it speaks.</summary>
public sealed record ServerApp(string Service, int AppPort, string AppProtocol);

/// <summary>
/// Requests through two sidecars, with the built `weft` as real processes: `weft control`, one
/// server-side `weft proxy` in front of each app, and one client-side `weft proxy` with an outbound
/// port per served Service (what an app would dial). StartAsync returns once every proxy is ready and
/// the client's sidecar knows an endpoint for every Service; disposing stops every process it started.
/// </summary>
public sealed class TwoSidecars : IAsyncDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    /// <summary>A MeshConfig for renewal under traffic: STRICT mTLS, certificates that live a minute (renewed about every 30 s).</summary>
    public const string StrictWithOneMinuteCertificates = """
        apiVersion: weft.dev/v1
        kind: MeshConfig
        metadata: { name: default }
        spec:
          mtls: { mode: STRICT }
          certificates: { workloadTtl: 1m }
        """;
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "weft-dp-" + Guid.NewGuid().ToString("N")[..8]);
    private readonly int _apiPort = ShopMesh.FreePort();
    private readonly int _discoveryPort = ShopMesh.FreePort();
    private readonly int _tlsPort = ShopMesh.FreePort();
    private readonly Dictionary<string, Sidecar> _servers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _outbound = new(StringComparer.Ordinal);
    private readonly List<WeftProcess> _extra = [];
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(10) };
    private readonly double _drainSeconds;
    private WeftProcess? _control;

    private readonly bool _tls;

    private TwoSidecars(double drainSeconds, bool tls)
    {
        _drainSeconds = drainSeconds;
        _tls = tls;
    }

    /// <summary>A running `weft proxy` and its admin port.</summary>
    public sealed record Sidecar(WeftProcess Process, int AdminPort, int InboundPort)
    {
        public Uri Admin(string path) => new($"http://127.0.0.1:{AdminPort}{path}");
    }

    public string ControlUrl => $"http://127.0.0.1:{_apiPort}";
    public Sidecar Client { get; private set; } = null!;
    public Sidecar Server(string service) => _servers[service];
    public int OutboundPort(string service) => _outbound[service];
    public Uri Outbound(string service, string path) => new($"http://127.0.0.1:{_outbound[service]}{path}");

    /// <param name="config">YAML applied once the control plane is ready, before any sidecar starts (a MeshConfig their first certificates follow).</param>
    /// <param name="tlsDiscovery">The sidecars reach discovery over TLS (15012's role, as `weft up`'s do), checking it with the bundle file the control plane keeps.</param>
    public static async Task<TwoSidecars> StartAsync(IReadOnlyList<ServerApp> apps, double drainSeconds = 5, string? config = null, bool tlsDiscovery = false)
    {
        var mesh = new TwoSidecars(drainSeconds, tlsDiscovery);
        try
        {
            await mesh.StartAllAsync(apps, config);
            return mesh;
        }
        catch
        {
            await mesh.DisposeAsync();
            throw;
        }
    }

    private async Task StartAllAsync(IReadOnlyList<ServerApp> apps, string? config)
    {
        Directory.CreateDirectory(_dir);
        _control = WeftProcess.Start(["control", "--data-dir", Path.Combine(_dir, "data"),
            "--api-port", Str(_apiPort), "--discovery-tls-port", Str(_tlsPort), "--discovery-port", Str(_discoveryPort), "--trust-bundle-file", BundleFile]);
        await _control.WaitForLineAsync("control plane ready", Patience);
        if (config is not null)
        {
            var file = Path.Combine(_dir, "config.yaml");
            await File.WriteAllTextAsync(file, config);
            var (code, output) = await WeftProcess.RunAsync(["apply", "-f", file, "--control", ControlUrl], Patience);
            if (code != 0)
                throw new InvalidOperationException("weft apply of the mesh's config failed:\n" + output);
        }

        foreach (var app in apps)
            _servers[app.Service] = StartServerSidecar(app, app.Service + "-0");
        var clientAdmin = ShopMesh.FreePort();
        List<string> args = ["proxy", "--service", "client", "--instance", "client-0", "--app-port", "0",
            "--admin-port", Str(clientAdmin), "--control", .. Discovery, "--drain-seconds", Str(_drainSeconds), "--bootstrap-token-file", Token("client")];
        foreach (var app in apps)
        {
            _outbound[app.Service] = ShopMesh.FreePort();
            args.AddRange(["--upstream", $"{app.Service}={Str(_outbound[app.Service])}"]);
        }
        Client = new Sidecar(WeftProcess.Start(args, DebugLogs), clientAdmin, 0);

        foreach (var s in _servers.Values)
            await WaitReadyAsync(s);
        await WaitReadyAsync(Client);
        foreach (var app in apps)
            await WaitForEndpointsAsync(app.Service, 1);
    }

    private string BundleFile => Path.Combine(_dir, "ca.pem");

    /// <summary>--control (and --ca-file over TLS) for a sidecar.</summary>
    private string[] Discovery => _tls ? [$"https://127.0.0.1:{Str(_tlsPort)}", "--ca-file", BundleFile] : [$"http://127.0.0.1:{Str(_discoveryPort)}"];

    private string Token(string service) => TokenFiles.Create(_apiPort, Path.Combine(_dir, "data"), service);

    /// <summary>Sidecars log at debug (forward failures with their exception, Kestrel's HTTP/2 events): a failed test shows why.</summary>
    private static readonly Dictionary<string, string> DebugLogs = new() { ["WEFT_LOG_LEVEL"] = "debug" };

    /// <summary>Starts a server-side sidecar (not waited for): another replica of a Service, or the first.</summary>
    public Sidecar StartServerSidecar(ServerApp app, string instance)
    {
        var admin = ShopMesh.FreePort();
        var inbound = ShopMesh.FreePort();
        var process = WeftProcess.Start(["proxy", "--service", app.Service, "--instance", instance,
            "--app-port", Str(app.AppPort), "--app-protocol", app.AppProtocol, "--inbound-port", Str(inbound),
            "--admin-port", Str(admin), "--control", .. Discovery, "--drain-seconds", Str(_drainSeconds), "--bootstrap-token-file", Token(app.Service)], DebugLogs);
        lock (_extra) _extra.Add(process);
        return new Sidecar(process, admin, inbound);
    }

    /// <summary>Stops a sidecar StartServerSidecar started (SIGTERM: it drains, then exits).</summary>
    public async Task StopAsync(Sidecar sidecar)
    {
        lock (_extra) _extra.Remove(sidecar.Process);
        await sidecar.Process.DisposeAsync();
    }

    public async Task WaitReadyAsync(Sidecar sidecar)
    {
        await Eventually.HoldsAsync(async () =>
        {
            if (sidecar.Process.HasExited)
                throw new InvalidOperationException("the proxy exited:\n" + sidecar.Process.Output);
            return await StatusOfAsync(sidecar.Admin("/ready")) == HttpStatusCode.OK;
        }, Patience, () => "proxy never ready:\n" + sidecar.Process.Output);
    }

    /// <summary>Waits until the client's sidecar has exactly <paramref name="count"/> endpoints for the Service.</summary>
    public Task WaitForEndpointsAsync(string service, int count) =>
        Eventually.HoldsAsync(async () => await EndpointCountAsync(service) == count, Patience,
            () => $"client sidecar never had {count} endpoints of {service}:\n{Client.Process.Output}");

    public async Task<int> EndpointCountAsync(string service)
    {
        try
        {
            using var doc = JsonDocument.Parse(await _http.GetStringAsync(Client.Admin("/clusters")));
            foreach (var c in doc.RootElement.GetProperty("clusters").EnumerateArray())
                if (c.GetProperty("service").GetString() == service)
                    return c.GetProperty("endpoints").GetArrayLength();
        }
        catch (HttpRequestException) { }
        return -1;
    }

    public async Task<HttpStatusCode?> StatusOfAsync(Uri url)
    {
        try
        {
            using var response = await _http.GetAsync(url);
            return response.StatusCode;
        }
        catch (HttpRequestException) { return null; }
        catch (TaskCanceledException) { return null; }
    }

    /// <summary>A sidecar's metrics page (Prometheus text).</summary>
    public Task<string> MetricsAsync(Sidecar sidecar) => _http.GetStringAsync(sidecar.Admin("/stats/prometheus"));

    /// <summary>Connections the client sidecar has accepted on one of its listeners so far.</summary>
    public async Task<long> ConnectionsOpenedAsync(int listenerPort)
    {
        var series = $"weft_tcp_connections_opened_total{{listener_port=\"{Str(listenerPort)}\"}} ";
        var line = (await MetricsAsync(Client)).Split('\n').FirstOrDefault(l => l.StartsWith(series, StringComparison.Ordinal));
        return line is null ? 0 : long.Parse(line[series.Length..], CultureInfo.InvariantCulture);
    }

    /// <summary>`weft apply --wait` of one YAML text: returns once every connected proxy ACKed it.</summary>
    public async Task ApplyAsync(string yaml)
    {
        var file = Path.Combine(_dir, Guid.NewGuid().ToString("N")[..8] + ".yaml");
        await File.WriteAllTextAsync(file, yaml);
        var (code, output) = await WeftProcess.RunAsync(["apply", "-f", file, "--wait", "--control", ControlUrl], Patience);
        Assert.True(code == 0, output);
    }

    /// <summary>Peak resident memory (VmHWM) of a process, in bytes.</summary>
    public static long PeakRss(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
        throw new InvalidOperationException("no VmHWM for " + pid);
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        var all = new List<WeftProcess>();
        if (Client is not null) all.Add(Client.Process);
        lock (_extra) all.AddRange(_extra);
        await Task.WhenAll(all.Select(p => p.DisposeAsync().AsTask()));
        if (_control is not null) await _control.DisposeAsync();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private static string Str(int n) => n.ToString(CultureInfo.InvariantCulture);
    private static string Str(double n) => n.ToString(CultureInfo.InvariantCulture);
}

/// <summary>Waiting on a condition with a deadline instead of sleeping.</summary>
public static class Eventually
{
    public static async Task HoldsAsync(Func<Task<bool>> condition, TimeSpan timeout, Func<string> explain)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (await condition()) return;
            if (DateTime.UtcNow > deadline) throw new TimeoutException(explain());
            await Task.Delay(50);
        }
    }

    public static Task HoldsAsync(Func<bool> condition, TimeSpan timeout, Func<string> explain) =>
        HoldsAsync(() => Task.FromResult(condition()), timeout, explain);
}
