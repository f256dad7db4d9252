using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;
using Weft.Proxy.Admin;
using Weft.Proxy.Config;
using Weft.Proxy.Http;
using Weft.Proxy.Listeners;
using Weft.Proxy.Telemetry;

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
    /// Serve HTTP/1.1 on HTTP listeners with the lean path (Http1/: own strict parser, pooled upstream
    /// HTTP/1.1 connections, WebSocket) instead of Kestrel's HTTP/1 pipeline + HttpClient. h2c and
    /// requests to HTTP/2 or gRPC clusters keep going through Kestrel and HttpForwarder.
    /// </summary>
    public bool LeanHttp1 { get; init; } = true;

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

    /// <summary>Limits and timeouts of the lean HTTP/1.1 path.</summary>
    public Http1.Http1Limits Http1Limits { get; init; } = new();

    /// <summary>Limits of HTTP/2 on the listeners (Kestrel's header limits and timeouts, shared with its HTTP/1.1).</summary>
    public Http2ListenerLimits Http2Limits { get; init; } = new();

    /// <summary>Time for the lean path's timeouts; tests pass a fake one.</summary>
    public TimeProvider? TimeProvider { get; init; }

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
    private readonly UpstreamClients _clients = new();
    private readonly ConfigApplier _applier;
    private readonly Http1.Http1ConnectionHandler? _http1;
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
        var forwarder = new HttpForwarder(_clients, loggerFactory.CreateLogger("Weft.Proxy.Http"));
        var pipeline = new ProxyPipeline(_state, identity, forwarder, _metrics, options.Random ?? Random.Shared);
        var tcp = new TcpForwarder(_state, _metrics, loggerFactory.CreateLogger("Weft.Proxy.Tcp"));
        var resets = new Http2ResetGuard(options.Http2Limits, _metrics, loggerFactory.CreateLogger("Weft.Proxy.Listeners"));
        var capture = new Interception.CaptureDispatch(_state, tcp, resets, loggerFactory.CreateLogger("Weft.Proxy.Interception"));
        if (options.LoopTransport && Transport.Native.Supported)
            _loops = new Transport.LoopTransport(options.LoopThreads, options.SendBatch);
        if (options.LeanHttp1)
        {
            _http1 = new Http1.Http1ConnectionHandler(_state, pipeline, identity, options.Http1Limits, options.TimeProvider ?? TimeProvider.System,
                options.InlineSocketCompletions, () => _state.IsDraining, loggerFactory.CreateLogger("Weft.Proxy.Http1"), _loops);
        }
        var connections = new ConnectionDispatch(_state, tcp, new TlsPassthrough(tcp, _metrics, TimeProvider.System), _metrics, TimeProvider.System,
            resets, _http1);
        var listeners = new ListenerSet(pipeline, connections, _metrics, loggerFactory, options.ListenerDrainTimeout, options.InlineSocketCompletions,
            options.Http2Limits, capture, _loops);
        _applier = new ConfigApplier(_state, listeners, _metrics, _logger);
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
    public bool IsReady => _state.HasConfig && !_state.IsDraining;

    /// <summary>True once StopAsync began (the drain signal every listener path reads).</summary>
    public bool IsDraining => _state.IsDraining;

    /// <summary>Opens the admin endpoint. Listeners open as configs arrive through ConfigSink.</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        var handler = new AdminHandler(_state, _metrics);
        var admin = KestrelServers.Create(new IPEndPoint(_adminAddress, _adminPortRequested),
            o => o.Protocols = HttpProtocols.Http1, _loggerFactory, new Http2ListenerLimits());
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
        _clients.Dispose();
        _http1?.Dispose();
        _loops?.Dispose();
        if (_trimmer is not null)
            await _trimmer.DisposeAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync() => await StopAsync(TimeSpan.Zero).ConfigureAwait(false);

    internal ProxyMetrics Metrics => _metrics;

    /// <summary>Tests raise the drain flag alone to see what every listener path does with it.</summary>
    internal RuntimeState State => _state;
}
