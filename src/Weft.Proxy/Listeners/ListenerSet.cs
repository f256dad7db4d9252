using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;
using Weft.Protocol.Discovery;
using Weft.Proxy.Config;
using Weft.Proxy.Telemetry;

namespace Weft.Proxy.Listeners;

/// <summary>
/// The sockets that follow the config: a listener new in a config is bound before that config is
/// published (a bind failure rejects the config), a removed one stops accepting and drains after,
/// an unchanged port is left alone (its connections never notice a config change). What a request
/// on a port does is read from the runtime at request time, so changing a listener's routes needs no
/// rebind. Called only under the config sink's apply lock.
/// </summary>
internal sealed class ListenerSet
{
    private readonly Dictionary<int, BoundListener> _bound = new();
    private readonly List<Task> _draining = new();
    private readonly ProxyPipeline _pipeline;
    private readonly ConnectionDispatch _connections;
    private readonly ProxyMetrics _metrics;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly TimeSpan _drainTimeout;
    private readonly bool _inlineCompletions;
    private readonly Http2ListenerLimits _http2;
    private readonly Interception.CaptureDispatch? _capture;
    private readonly Transport.LoopTransport? _loops;

    public ListenerSet(ProxyPipeline pipeline, ConnectionDispatch connections, ProxyMetrics metrics, ILoggerFactory loggerFactory, TimeSpan drainTimeout, bool inlineCompletions,
        Http2ListenerLimits http2, Interception.CaptureDispatch? capture = null, Transport.LoopTransport? loops = null)
    {
        _loops = loops;
        _capture = capture;
        _http2 = http2;
        _inlineCompletions = inlineCompletions;
        _pipeline = pipeline;
        _connections = connections;
        _metrics = metrics;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger("Weft.Proxy.Listeners");
        _drainTimeout = drainTimeout;
    }

    private sealed class BoundListener(KestrelServer server, IPAddress address, int port)
    {
        public KestrelServer Server { get; } = server;
        public IPAddress Address { get; } = address;
        public int Port { get; } = port;
    }

    /// <summary>Opens every listener of <paramref name="next"/> not bound yet. Null on success, else the reason (and nothing new stays open).</summary>
    public async Task<string?> OpenAsync(ProxyRuntime next, CancellationToken cancellationToken)
    {
        var opened = new List<BoundListener>();
        foreach (var listener in next.ListenersByPort.Values)
        {
            if (_bound.TryGetValue(listener.Port, out var existing))
            {
                // Every listener is bound alike (ConnectionDispatch reads the protocol per connection),
                // so only an address change needs a new socket, which cannot keep its connections.
                if (existing.Address.Equals(listener.Address))
                    continue;
                _bound.Remove(listener.Port);
                await StopAsync(existing, TimeSpan.FromSeconds(1)).ConfigureAwait(false);
            }
            try
            {
                var bound = await BindAsync(listener, cancellationToken).ConfigureAwait(false);
                opened.Add(bound);
            }
            catch (Exception ex)
            {
                // Whatever stopped us (port in use, cancellation), nothing of this config may stay open.
                foreach (var b in opened)
                    await StopAsync(b, TimeSpan.Zero).ConfigureAwait(false);
                if (ex is OperationCanceledException)
                    throw;
                return listener.Key + ": port: cannot listen on " + listener.Address + ":" +
                    listener.Port.ToString(CultureInfo.InvariantCulture) + ": " + (ex.InnerException?.Message ?? ex.Message);
            }
        }
        foreach (var b in opened)
        {
            _bound[b.Port] = b;
            Log.ListenerOpened(_logger, b.Address.ToString(), b.Port);
        }
        return null;
    }

    /// <summary>Stops listeners <paramref name="current"/> no longer has; they drain in the background.</summary>
    public void CloseRemoved(ProxyRuntime current)
    {
        List<int>? removed = null;
        foreach (var port in _bound.Keys)
        {
            if (!current.ListenersByPort.ContainsKey(port))
                (removed ??= new List<int>()).Add(port);
        }
        if (removed is null)
            return;
        foreach (var port in removed)
        {
            var listener = _bound[port];
            _bound.Remove(port);
            Log.ListenerDraining(_logger, listener.Address.ToString(), port);
            lock (_draining)
                _draining.Add(StopAsync(listener, _drainTimeout));
        }
    }

    /// <summary>Stops every listener: no new connections, in-flight requests finish until <paramref name="drainTimeout"/>.</summary>
    public async Task StopAllAsync(TimeSpan drainTimeout)
    {
        var tasks = new List<Task>();
        foreach (var listener in _bound.Values)
            tasks.Add(StopAsync(listener, drainTimeout));
        _bound.Clear();
        lock (_draining)
        {
            tasks.AddRange(_draining);
            _draining.Clear();
        }
        await Task.WhenAll(tasks).ConfigureAwait(false);
    }

    public IReadOnlyCollection<int> BoundPorts => _bound.Keys;

    private async Task<BoundListener> BindAsync(ListenerRuntime listener, CancellationToken cancellationToken)
    {
        var port = listener.Port;
        var metrics = _metrics;
        var connections = _connections;
        KestrelServer server;
        if (listener.Capture is not null && _capture is { } capture)
        {
            // Transparent interception: what serves a connection depends on its original destination (Interception/).
            server = KestrelServers.Create(new IPEndPoint(listener.Address, port), o =>
            {
                o.Protocols = HttpProtocols.Http1AndHttp2;
                o.Use(next => connection => CountedCaptureAsync(connection, port, next, capture, metrics));
            }, _loggerFactory, _http2, _inlineCompletions);
        }
        else
        {
            server = KestrelServers.Create(new IPEndPoint(listener.Address, port), o =>
            {
                // HTTP when ConnectionDispatch hands the connection on; TCP and TLS never reach Kestrel's HTTP.
                o.Protocols = HttpProtocols.Http1AndHttp2;
                o.Use(next => connection => CountedAsync(connection, port, next, connections, metrics));
            }, _loggerFactory, _http2, _inlineCompletions, _loops);
        }
        try
        {
            await server.StartAsync(new DelegateApplication(new ListenerHandler(_pipeline, port)), cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            server.Dispose();
            throw;
        }
        return new BoundListener(server, listener.Address, port);
    }

    private static async Task CountedAsync(ConnectionContext connection, int port, ConnectionDelegate http, ConnectionDispatch connections, ProxyMetrics metrics)
    {
        metrics.ConnectionOpened(port);
        try
        {
            await connections.DispatchAsync(connection, port, http).ConfigureAwait(false);
        }
        finally
        {
            metrics.ConnectionClosed(port);
        }
    }

    private static async Task CountedCaptureAsync(ConnectionContext connection, int port, ConnectionDelegate next, Interception.CaptureDispatch capture, ProxyMetrics metrics)
    {
        metrics.ConnectionOpened(port);
        try
        {
            await capture.HandleAsync(connection, port, next).ConfigureAwait(false);
        }
        finally
        {
            metrics.ConnectionClosed(port);
        }
    }

    private async Task StopAsync(BoundListener listener, TimeSpan drainTimeout)
    {
        using var deadline = new CancellationTokenSource(drainTimeout);
        try
        {
            // Kestrel: stop accepting, close idle connections, let requests finish until the token fires, then abort.
            await listener.Server.StopAsync(deadline.Token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Log.ListenerStopFailed(_logger, listener.Address.ToString(), listener.Port, ex);
        }
        finally
        {
            listener.Server.Dispose();
        }
    }

    private sealed class ListenerHandler(ProxyPipeline pipeline, int port) : IRequestHandler
    {
        public Task HandleAsync(HttpContext context) => pipeline.HandleAsync(context, port);
    }
}
