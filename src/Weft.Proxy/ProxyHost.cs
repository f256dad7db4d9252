using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;
using Weft.Proxy.Admin;
using Weft.Proxy.Codecs.Http1;
using Weft.Proxy.Codecs.Kestrel;
using Weft.Proxy.Codecs.Tcp;
using Weft.Proxy.Codecs.Tls;
using Weft.Proxy.Config;
using Weft.Proxy.Listeners;
using Weft.Proxy.Pipeline;
using Weft.Proxy.Telemetry;
using Weft.Proxy.Upstream;

using Weft.Proxy.Security;

namespace Weft.Proxy;

/// <summary>Knobs of a proxy host that are not config from the control plane.</summary>
public sealed record ProxyHostOptions
{
    /// <summary>How long a listener removed by a config change lets its in-flight requests finish.</summary>
    public TimeSpan ListenerDrainTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Run request handling on the socket thread instead of hopping to the thread pool (Kestrel's
    /// UnsafePreferInlineScheduling). Safe here because the proxy never blocks a thread; pair it with
    /// DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1. Off by default until benchmarks confirm it.
    /// </summary>
    public bool InlineSocketCompletions { get; init; }

    /// <summary>
    /// Serve HTTP/1.1 on HTTP listeners with the lean codec (Codecs/Http1: own strict parser) instead of
    /// Kestrel's HTTP/1.1. Either way every request takes the same pipeline.
    /// </summary>
    public bool LeanHttp1 { get; init; } = true;

    /// <summary>
    /// Serve HTTP/2 (h2c) on HTTP listeners with Weft's own codec (Codecs/Http2) instead of Kestrel's.
    /// Either way every request takes the same pipeline; the parity suite runs both.
    /// </summary>
    public bool LeanHttp2 { get; init; } = true;

    /// <summary>
    /// Serve listeners and the lean path's upstream connections with Weft's own event-loop transport
    /// (Transport/: edge-triggered epoll, direct recv/send, no pipes) instead of Kestrel's socket
    /// transport. Linux x86-64 only; elsewhere, or when false, Kestrel's transport serves. On by
    /// default; WEFT_PROXY_TRANSPORT=sockets turns it off (docs/proxy.md, "Transport").
    /// </summary>
    public bool LoopTransport { get; init; } = Environment.GetEnvironmentVariable("WEFT_PROXY_TRANSPORT") != "sockets";

    /// <summary>Event-loop threads of the loop transport (a sidecar's request work runs on them).</summary>
    public int LoopThreads { get; init; } = 1;

    /// <summary>
    /// The loop transport's small sends, made by its own threads, go out together once per epoll batch
    /// in one io_uring submission (Transport/SendBatch.cs) where the kernel has io_uring. On by
    /// default; WEFT_PROXY_SEND_BATCH=off sends each at once (docs/proxy.md, "Batched sends").
    /// </summary>
    public bool SendBatch { get; init; } = Environment.GetEnvironmentVariable("WEFT_PROXY_SEND_BATCH") != "off";

    /// <summary>Size limits of the HTTP/1.1 codec (timeouts are the runtime's: Config/ProxyLimits).</summary>
    public Http1Limits Http1Limits { get; init; } = new();

    /// <summary>Limits of HTTP/2 on the listeners (Kestrel's header limits and timeouts, shared with its HTTP/1.1).</summary>
    public Http2ListenerLimits Http2Limits { get; init; } = new();

    /// <summary>Time for the data plane's timeouts (the heartbeat); tests pass a fake one.</summary>
    public TimeProvider? TimeProvider { get; init; }

    /// <summary>How often the heartbeat checks deadlines: timeouts fire within one period of theirs.</summary>
    public TimeSpan? HeartbeatPeriod { get; init; }

    /// <summary>Randomness for weighted backend picks; tests pass a seeded one.</summary>
    public Random? Random { get; init; }

    /// <summary>
    /// How long with no request and no new connection before the proxy gives surplus memory back to the
    /// OS (Memory/IdleMemoryTrimmer); null turns it off.
    /// </summary>
    public TimeSpan? IdleMemoryTrimInterval { get; init; } = TimeSpan.FromSeconds(10);
}

/// <summary>
/// One sidecar or gateway data plane. Owns, in shutdown order: the listeners (stopped first, with
/// drain), the admin endpoint (stopped last so /ready reports draining meanwhile), the upstream
/// connection pools (disposed when nothing can use them).
/// Usage: new ProxyHost(identity, IPAddress.Loopback, 15000, loggerFactory); await StartAsync();
/// hand ConfigSink to the discovery client; on shutdown await StopAsync(drainTimeout).
/// </summary>
public sealed class ProxyHost : IAsyncDisposable
{
    private readonly IPAddress _adminAddress;
    private readonly int _adminPortRequested;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly RuntimeState _state = new();
    private readonly ProxyMetrics _metrics = new();
    private readonly Heartbeat _heartbeat;
    private readonly ClusterClient _clusters;
    private readonly ConfigApplier _applier;
    private readonly Memory.IdleMemoryTrimmer? _trimmer;
    private readonly Transport.LoopTransport? _loops;
    private KestrelServer? _admin;
    private int _stopped;

    /// <summary>What moves the data plane's bytes, for the startup log (docs/proxy.md, "Transport").</summary>
    public string TransportDescription => _loops?.Describe() ?? ".NET sockets";

    public ProxyHost(ProxyIdentity identity, IPAddress adminAddress, int adminPort, ILoggerFactory loggerFactory, ProxyHostOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(identity);
        ArgumentNullException.ThrowIfNull(adminAddress);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        options ??= new ProxyHostOptions();
        Identity = identity;
        _adminAddress = adminAddress;
        _adminPortRequested = adminPort;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger("Weft.Proxy");
        var time = options.TimeProvider ?? TimeProvider.System;
        _heartbeat = new Heartbeat(time, options.HeartbeatPeriod);
        if (options.LoopTransport && Transport.Native.Supported)
            _loops = new Transport.LoopTransport(options.LoopThreads, options.SendBatch);

        MeshTls = new Security.Mtls.MeshTls(Certificates, time);
        // The cluster client: one connect place, HTTP/1.1 pools and HTTP/2 connections, for every codec.
        var connector = new Connector(_loops, options.InlineSocketCompletions, loggerFactory.CreateLogger("Weft.Proxy.Upstream"), MeshTls);
        var pools = new UpstreamPools(connector, options.Http1Limits, _heartbeat, _state);
        _clusters = new ClusterClient(connector, pools, _heartbeat, loggerFactory.CreateLogger("Weft.Proxy.Upstream"));
        // The one request pipeline, and the codecs that feed it.
        var refusals = new Security.Authorization.AuthorizationRefusals(_metrics, loggerFactory.CreateLogger("Weft.Proxy.Authorization"), TimeProvider.System);
        var pipeline = new RequestPipeline(identity, _clusters, _metrics, _heartbeat, options.Random ?? Random.Shared, refusals);
        var kestrel = new KestrelCodec(_state, pipeline);
        var http1 = options.LeanHttp1
            ? new Http1Codec(_state, pipeline, options.Http1Limits, _heartbeat)
            : null;
        var tcp = new TcpProxy(_state, _clusters, _metrics, _heartbeat);
        var resets = new Http2ResetGuard(options.Http2Limits, _metrics, loggerFactory.CreateLogger("Weft.Proxy.Listeners"));
        var http2 = options.LeanHttp2 ? new Codecs.Http2.Http2Codec(_state, pipeline, options.Http2Limits, _heartbeat, resets) : null;
        var connections = new ConnectionDispatch(_state, tcp, new TlsPassthrough(tcp, _metrics, TimeProvider.System), _metrics, TimeProvider.System,
            resets, http1, http2, refusals, MeshTls, loggerFactory.CreateLogger("Weft.Proxy.Mtls"));
        var capture = new Interception.CaptureDispatch(_state, tcp, connections, connector, loggerFactory.CreateLogger("Weft.Proxy.Interception"));
        var listeners = new ListenerSet(kestrel, connections, new ConnectionLimiter(_state), _metrics, loggerFactory, options.ListenerDrainTimeout,
            options.InlineSocketCompletions, options.Http2Limits, capture, _loops);
        _applier = new ConfigApplier(_state, listeners, _metrics, pools, _logger, Certificates);
        _heartbeat.Add(new TransportFailureLog(_logger));
        if (options.IdleMemoryTrimInterval is { } interval && interval > TimeSpan.Zero)
        {
            _trimmer = new Memory.IdleMemoryTrimmer(_metrics.Activity, _metrics.MemoryTrims, interval, TimeProvider.System, _logger);
        }
    }

    public ProxyIdentity Identity { get; }

    /// <summary>Where the discovery client hands each new config (ACK on null, NACK with the reason otherwise).</summary>
    public IProxyConfigSink ConfigSink => _applier;

    /// <summary>The admin port actually bound (useful when 0 was asked for); valid after StartAsync.</summary>
    public int AdminPort { get; private set; }

    /// <summary>True once a config was applied and until draining starts (what /ready says).</summary>
    public bool IsReady => _state.HasConfig && !_state.IsDraining && Certificates.Current is not null;

    /// <summary>True once StopAsync began (the drain signal every listener path reads).</summary>
    public bool IsDraining => _state.IsDraining;

    /// <summary>Opens the admin endpoint. Listeners open as configs arrive through ConfigSink.</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        var handler = new AdminHandler(_state, _metrics, Certificates);
        var admin = KestrelServers.Create(new IPEndPoint(_adminAddress, _adminPortRequested),
            o => o.Protocols = HttpProtocols.Http1, _loggerFactory, new Http2ListenerLimits(), ProxyLimits.Default);
        await admin.StartAsync(new DelegateApplication(handler), cancellationToken).ConfigureAwait(false);
        _admin = admin;
        AdminPort = KestrelServers.BoundPort(admin, _adminPortRequested);
        Log.AdminListening(_logger, _adminAddress + ":" + AdminPort);
    }

    /// <summary>
    /// Readiness off, listeners stop accepting, in-flight requests get until <paramref name="drainTimeout"/>
    /// to finish, then everything closes.
    /// </summary>
    public async Task StopAsync(TimeSpan drainTimeout)
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
            return;
        // Drain order: readiness off and `Connection: close` on every HTTP/1 response from now on, then
        // each listener stops accepting and asks its connections to close (idle HTTP/1 ones close, HTTP/2
        // ones get GOAWAY), in-flight requests run until the deadline, what is left is aborted.
        _state.BeginDrain();
        Log.Stopping(_logger, drainTimeout);
        await _applier.StopAsync(drainTimeout).ConfigureAwait(false);
        if (_admin is { } admin)
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            await admin.StopAsync(cts.Token).ConfigureAwait(false);
            admin.Dispose();
        }
        _clusters.Dispose();
        _heartbeat.Dispose();
        _loops?.Dispose();
        if (_trimmer is not null)
            await _trimmer.DisposeAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync() => await StopAsync(TimeSpan.Zero).ConfigureAwait(false);

    internal ProxyMetrics Metrics => _metrics;

    /// <summary>This workload's certificate, when it has one (a CertificateAgent keeps it fresh).</summary>
    public CertificateHolder Certificates { get; } = new();

    /// <summary>mTLS between sidecars with <see cref="Certificates"/>' current certificate.</summary>
    internal Security.Mtls.MeshTls MeshTls { get; }

    /// <summary>Tests raise the drain flag alone to see what every listener path does with it.</summary>
    internal RuntimeState State => _state;

    /// <summary>Open upstream HTTP/1.1 connections (tests watch the idle timeout close them).</summary>
    internal int UpstreamConnections => _clusters.Pools.LiveConnections;
}

/// <summary>Logs, once, the first failure the transport survived (the counters count the rest: weft_transport_*).</summary>
internal sealed class TransportFailureLog(ILogger logger) : IHeartbeatWatch
{
    private int _logged;

    public void OnHeartbeat(long now)
    {
        if (Volatile.Read(ref _logged) != 0 || Transport.TransportCounters.FirstHandlerFailure is not { } error)
            return;
        if (Interlocked.Exchange(ref _logged, 1) == 0)
            Log.TransportHandlerFailed(logger, error);
    }
}
