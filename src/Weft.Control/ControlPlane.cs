using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Weft.Control.Api;
using Weft.Control.Ca;
using Weft.Model.Resources;
using Weft.Control.Discovery;
using Weft.Control.Registry;
using Weft.Control.Store;
using Weft.Control.Translate;
using Weft.Control.Workloads;
using Weft.Protocol.Grpc;
using Weft.Protocol.Health;

namespace Weft.Control;

/// <summary>
/// The control plane composed: store -> (registry + translation) -> discovery on the gRPC port, and the
/// HTTP API on the API port. Owns everything it creates. Shutdown order: stop accepting (Kestrel drains
/// open calls, so streams end and proxies start reconnecting), then the discovery source, the registry
/// (its file is current), and the store last.
/// </summary>
public sealed class ControlPlane : IAsyncDisposable
{
    private readonly ControlPlaneOptions _options;
    private readonly ILoggerFactory _loggers;
    private FileConfigStore? _store;
    private WorkloadRegistry? _registry;
    private TranslatedSnapshotSource? _snapshots;
    private WebApplication? _app;
    private readonly CancellationTokenSource _stopping = new();
    private Task _rotationDriver = Task.CompletedTask;
    // The launchers' view of their processes: in memory, reported again within a second of a restart.
    private readonly WorkloadBoard _workloads = new();
    private volatile bool _ready;
    private string? _localEntry;    // where the CLI on this machine finds the data dir, hence the API token

    public ControlPlane(ControlPlaneOptions options, ILoggerFactory loggers)
    {
        _options = options;
        _loggers = loggers;
    }

    public DiscoveryService? Discovery { get; private set; }

    /// <summary>The certificate authority, once started.</summary>
    public CertificateAuthority? Authority { get; private set; }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(_options.DataDir);
        _store = FileConfigStore.Open(_options.DataDir, TimeProvider.System, _loggers.CreateLogger<FileConfigStore>());
        _registry = new WorkloadRegistry(new RegistryOptions { DataDir = _options.DataDir }, TimeProvider.System, _loggers.CreateLogger<WorkloadRegistry>());
        // What launchers drain (a graceful restart or stop) leaves every cluster's endpoints.
        var registry = _registry;
        _workloads.DrainingChanged += registry.SetDraining;
        // The CA's trust domain and default lifetime are the MeshConfig's at start.
        var mesh = CurrentMeshConfig(_store);
        Authority = CertificateAuthority.LoadOrCreate(_options.CaDir ?? Path.Combine(_options.DataDir, "ca"),
            new CaOptions { TrustDomain = mesh.TrustDomain, DefaultTtl = mesh.Certificates.WorkloadTtl });
        var tokens = BootstrapTokens.Open(_options.DataDir);
        var callers = new CallerAuthentication(tokens, Authority);
        var index = new MeshIndexCache();
        var bundle = new TrustBundleSource(Authority);
        _snapshots = new TranslatedSnapshotSource(_store, _registry, index.Translate, bundle);
        Discovery = new DiscoveryService(_snapshots, _registry, new NodeAdmission(callers), new DiscoveryOptions(), TimeProvider.System, _loggers.CreateLogger<DiscoveryService>());

        var grpc = new GrpcServer { Logger = _loggers.CreateLogger<GrpcServer>() };
        Discovery.Register(grpc);
        var health = new HealthService();
        health.Register(grpc);
        health.SetStatus("weft.discovery.v1.Discovery", Protocol.Health.HealthCheckResponse.Types.ServingStatus.Serving);
        var store = _store;
        var board = Discovery.Status;
        new CertifyService(Authority, callers, () => CurrentMeshConfig(store).Certificates.WorkloadTtl,
            (instance, account, spiffeId, notBefore, notAfter) => board.RecordCertificate(instance, account.Namespace, account.Name, spiffeId, notBefore, notAfter)).Register(grpc);

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(_loggers);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(_options.ListenAddress, _options.DiscoveryPort, o => o.Protocols = HttpProtocols.Http2);
            k.Listen(_options.ListenAddress, _options.ApiPort, o => o.Protocols = HttpProtocols.Http1);
            foreach (var extra in _options.DiscoveryAddresses)
                k.Listen(extra, _options.DiscoveryPort, o => o.Protocols = HttpProtocols.Http2);
            if (_options.DiscoveryTlsPort != 0)
            {
                var tls = new DiscoveryTls(Authority, [_options.ListenAddress, .. _options.DiscoveryAddresses]);
                foreach (var address in new[] { _options.ListenAddress }.Concat(_options.DiscoveryAddresses))
                    k.Listen(address, _options.DiscoveryTlsPort, o =>
                    {
                        o.Protocols = HttpProtocols.Http2;
                        o.UseHttps(tls.Options);
                    });
            }
            // Discovery streams live as long as their proxy: no body size or data rate limits on them.
            k.Limits.MaxRequestBodySize = null;
            k.Limits.MinRequestBodyDataRate = null;
            k.Limits.MinResponseDataRate = null;
            k.Limits.Http2.KeepAlivePingDelay = TimeSpan.FromSeconds(10);
            k.Limits.Http2.KeepAlivePingTimeout = TimeSpan.FromSeconds(20);
            k.Limits.Http2.MaxStreamsPerConnection = 1000;
        });
        var app = builder.Build();
        var discoveryPort = _options.DiscoveryPort;
        var discoveryTlsPort = _options.DiscoveryTlsPort;
        app.MapWhen(c => c.Connection.LocalPort == discoveryPort || (discoveryTlsPort != 0 && c.Connection.LocalPort == discoveryTlsPort), b => b.Run(grpc.HandleAsync));
        var api = ApiEndpoints.Map(app, _store, Discovery.Status, ApiToken.LoadOrCreate(_options.DataDir));
        WorkloadEndpoints.Map(api, _workloads);
        TokenEndpoints.Map(api, tokens, Authority.Options.TrustDomain);
        var authority = Authority;
        CaEndpoints.Map(api, authority, () => authority.RotationProgress(board.ProxiesWithoutBundle));
        if (_options.TrustBundleFile is { } bundleFile)
        {
            TrustBundleFile.Write(bundleFile, authority);
            authority.BundleChanged += () => TrustBundleFile.Write(bundleFile, authority);
        }
        _rotationDriver = RunRotationAsync(authority, board, _loggers.CreateLogger<ControlPlane>(), _stopping.Token);
        app.MapGet("/ready", () => _ready ? Results.Text("ready\n") : Results.Text("starting\n", statusCode: 503));
        app.MapGet("/metrics", (HttpContext http) => WriteMetrics(http));
        _app = app;
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        _localEntry = LocalControls.Register(_options.ListenAddress, _options.ApiPort, _options.DataDir);
        _ready = true;
    }

    /// <summary>
    /// A control plane just started knows no proxy yet: the switch to a new root waits this long, for the
    /// proxies to reconnect and say which bundle they hold (they retry within seconds).
    /// </summary>
    private static readonly TimeSpan RotationStartGrace = TimeSpan.FromSeconds(20);

    /// <summary>A root rotation's steps follow what proxies applied and renewed: looked at every second. A step that fails is logged and tried again.</summary>
    private static async Task RunRotationAsync(CertificateAuthority authority, ProxyStatusBoard board, ILogger logger, CancellationToken stop)
    {
        var started = TimeProvider.System.GetUtcNow();
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        try
        {
            while (await timer.WaitForNextTickAsync(stop).ConfigureAwait(false))
            {
                if (authority.Rotation.Phase == RotationPhase.None)
                    continue;
                var young = TimeProvider.System.GetUtcNow() - started < RotationStartGrace;
                try
                {
                    authority.AdvanceRotation(generation => young ? ["(the control plane started moments ago: proxies are reconnecting)"] : board.ProxiesWithoutBundle(generation));
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    logger.LogError(e, "root rotation: the step from {Phase} failed; trying again", authority.Rotation.Phase);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // stopping
        }
    }

    public async ValueTask DisposeAsync()
    {
        _ready = false;
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _rotationDriver.ConfigureAwait(false);
        if (_localEntry is not null)
            LocalControls.Unregister(_localEntry, _options.DataDir);
        if (_app is not null)
        {
            using var drain = new CancellationTokenSource(TimeSpan.FromSeconds(3));
            try { await _app.StopAsync(drain.Token).ConfigureAwait(false); }
            catch (OperationCanceledException) { /* streams are aborted past the deadline */ }
            await _app.DisposeAsync().ConfigureAwait(false);
        }
        _snapshots?.Dispose();
        _registry?.Dispose();
        _store?.Dispose();
        Authority?.Dispose();
    }

    private static MeshConfigSpec CurrentMeshConfig(FileConfigStore store) =>
        store.Current.Select(ResourceKinds.MeshConfig).OfType<MeshConfigResource>().FirstOrDefault()?.Spec ?? MeshConfigSpec.Default;

    private Task WriteMetrics(HttpContext http)
    {
        http.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
        using var text = new StringWriter(CultureInfo.InvariantCulture);
        Discovery!.Metrics.WritePrometheus(text);
        text.Write("# HELP weft_control_config_revision The latest accepted config revision.\n# TYPE weft_control_config_revision gauge\n");
        text.Write(FormattableString.Invariant($"weft_control_config_revision {_store!.Current.Revision}\n"));
        return http.Response.WriteAsync(text.ToString(), http.RequestAborted);
    }
}
