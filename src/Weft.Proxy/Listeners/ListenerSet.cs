using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;
using Weft.Proxy.Codecs;
using Weft.Proxy.Codecs.Kestrel;
using Weft.Proxy.Config;
using Weft.Proxy.Telemetry;

namespace Weft.Proxy.Listeners;

/// <summary>
/// The sockets that follow the config: a listener new in a config is bound before that config is
/// published (a bind failure rejects the config), a removed one stops accepting and drains after the
/// new config is published, an unchanged port is left alone (its connections never notice a config
/// change). A NACKed config leaves every listener of the last good one bound: new ports are bound
/// first and closed again on failure; only a port whose address changes must give up its old socket
/// before the new one binds, and on a failure after that the old address is bound again. What a
/// request on a port does is read from the runtime at request time, so changing a listener's routes
/// needs no rebind. Called only under the config sink's apply lock.
/// </summary>
internal sealed class ListenerSet
{
    private readonly Dictionary<int, BoundListener> _bound = new();
    private readonly List<Task> _draining = new();
    private readonly KestrelCodec _kestrel;
    private readonly ConnectionDispatch _connections;
    private readonly ConnectionLimiter _limiter;
    private readonly ProxyMetrics _metrics;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly TimeSpan _drainTimeout;
    private readonly bool _inlineCompletions;
    private readonly Http2ListenerLimits _http2;
    private readonly Interception.CaptureDispatch? _capture;
    private readonly Transport.LoopTransport? _loops;

    public ListenerSet(KestrelCodec kestrel, ConnectionDispatch connections, ConnectionLimiter limiter, ProxyMetrics metrics, ILoggerFactory loggerFactory,
        TimeSpan drainTimeout, bool inlineCompletions, Http2ListenerLimits http2, Interception.CaptureDispatch? capture = null,
        Transport.LoopTransport? loops = null)
    {
        _kestrel = kestrel;
        _connections = connections;
        _limiter = limiter;
        _metrics = metrics;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger("Weft.Proxy.Listeners");
        _drainTimeout = drainTimeout;
        _inlineCompletions = inlineCompletions;
        _http2 = http2;
        _capture = capture;
        _loops = loops;
    }

    // The limits of the config in force, for a listener bound again after a rolled-back change.
    private ProxyLimits _committedLimits = ProxyLimits.Default;

    private sealed class BoundListener(KestrelServer server, IPAddress address, int port, bool capture)
    {
        public KestrelServer Server { get; } = server;
        public IPAddress Address { get; } = address;
        public int Port { get; } = port;
        public bool Capture { get; } = capture;
    }

    /// <summary>
    /// Opens every listener of <paramref name="next"/> not bound yet. Null on success (the caller then
    /// publishes and calls <see cref="Commit"/>), else the reason, with every listener of the current
    /// config bound as it was.
    /// </summary>
    public async Task<string?> OpenAsync(ProxyRuntime next, CancellationToken cancellationToken)
    {
        var opened = new List<BoundListener>();
        var moved = new List<(BoundListener Old, ListenerRuntime New)>();
        foreach (var listener in next.ListenersByPort.Values)
        {
            if (_bound.TryGetValue(listener.Port, out var existing))
            {
                // Every listener is bound alike (ConnectionDispatch reads the protocol per connection),
                // so only an address change needs a new socket.
                if (!existing.Address.Equals(listener.Address))
                    moved.Add((existing, listener));
                continue;
            }
            var error = await TryBindAsync(listener, next, opened, cancellationToken).ConfigureAwait(false);
            if (error is not null)
            {
                await CloseAsync(opened).ConfigureAwait(false);
                return error;
            }
        }
        // Address changes last, after everything that cannot disturb the running config succeeded: the
        // old socket goes, the new one binds, and on a failure the old addresses are bound again.
        var replaced = new List<BoundListener>();
        foreach (var (old, listener) in moved)
        {
            await StopAsync(old, TimeSpan.FromSeconds(1)).ConfigureAwait(false);
            replaced.Add(old);
            var error = await TryBindAsync(listener, next, opened, cancellationToken).ConfigureAwait(false);
            if (error is not null)
            {
                await CloseAsync(opened).ConfigureAwait(false);
                foreach (var back in replaced)
                    await RebindAsync(back).ConfigureAwait(false);
                return error;
            }
        }
        foreach (var old in replaced)
            _bound.Remove(old.Port);
        foreach (var b in opened)
        {
            _bound[b.Port] = b;
            Log.ListenerOpened(_logger, b.Address.ToString(), b.Port);
        }
        return null;
    }

    private async Task<string?> TryBindAsync(ListenerRuntime listener, ProxyRuntime next, List<BoundListener> opened, CancellationToken cancellationToken)
    {
        try
        {
            opened.Add(await BindAsync(listener.Address, listener.Port, listener.Capture is not null, next.Limits, cancellationToken).ConfigureAwait(false));
            return null;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            return listener.Key + ": port: cannot listen on " + listener.Address + ":" +
                listener.Port.ToString(CultureInfo.InvariantCulture) + ": " + (ex.InnerException?.Message ?? ex.Message);
        }
    }

    /// <summary>A listener whose address change was rolled back: bound again where it was (its old connections were drained).</summary>
    private async Task RebindAsync(BoundListener old)
    {
        try
        {
            _bound[old.Port] = await BindAsync(old.Address, old.Port, old.Capture, _committedLimits, CancellationToken.None)
                .ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            _bound.Remove(old.Port);
            Log.ListenerStopFailed(_logger, old.Address.ToString(), old.Port, ex);
        }
    }

    private async Task CloseAsync(List<BoundListener> opened)
    {
        foreach (var b in opened)
            await StopAsync(b, TimeSpan.Zero).ConfigureAwait(false);
        opened.Clear();
    }

    /// <summary>After <paramref name="current"/> is published: removed listeners drain in the background, and the bound ones take its limits.</summary>
    public void Commit(ProxyRuntime current)
    {
        _committedLimits = current.Limits;
        List<int>? removed = null;
        foreach (var (port, listener) in _bound)
        {
            if (!current.ListenersByPort.ContainsKey(port))
                (removed ??= new List<int>()).Add(port);
            else
                KestrelServers.ApplyLimits(listener.Server.Options, current.Limits);
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

    private async Task<BoundListener> BindAsync(IPAddress address, int port, bool capture, ProxyLimits limits, CancellationToken cancellationToken)
    {
        var dispatch = _connections;
        KestrelServer server;
        if (capture && _capture is { } captured)
        {
            // Transparent interception: what serves a connection depends on its original destination
            // (Interception/), read from the socket: .NET's sockets serve capture listeners.
            server = KestrelServers.Create(new IPEndPoint(address, port), o =>
            {
                o.Protocols = HttpProtocols.Http1AndHttp2;
                o.Use(next => connection => CountedAsync(connection, port, c => captured.HandleAsync(c, port, next)));
            }, _loggerFactory, _http2, limits, _inlineCompletions);
        }
        else
        {
            server = KestrelServers.Create(new IPEndPoint(address, port), o =>
            {
                // HTTP/2 (and HTTP/1.1 with the lean codec off) when ConnectionDispatch hands the connection on.
                o.Protocols = HttpProtocols.Http1AndHttp2;
                o.Use(next => connection => CountedAsync(connection, port, c => dispatch.DispatchAsync(c, port, next)));
            }, _loggerFactory, _http2, limits, _inlineCompletions, _loops);
        }
        try
        {
            await server.StartAsync(new DelegateApplication(new ListenerHandler(_kestrel, port)), cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            server.Dispose();
            throw;
        }
        return new BoundListener(server, address, port, capture);
    }

    /// <summary>Every accepted connection: counted, refused past the connection limits, then served.</summary>
    private async Task CountedAsync(ConnectionContext connection, int port, Func<ConnectionContext, Task> serve)
    {
        _metrics.ConnectionOpened(port);
        if (!_limiter.TryEnter(port))
        {
            _metrics.ConnectionRejected(port);
            ClientReset.Abort(connection);
            _metrics.ConnectionClosed(port);
            return;
        }
        try
        {
            await serve(connection).ConfigureAwait(false);
        }
        finally
        {
            _limiter.Exit(port);
            _metrics.ConnectionClosed(port);
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

    /// <summary>Kestrel's requests on a listener (HTTP/2, and HTTP/1.1 where the lean codec is off): the Kestrel codec, bound to the port.</summary>
    private sealed class ListenerHandler(KestrelCodec kestrel, int port) : IRequestHandler
    {
        public Task HandleAsync(HttpContext context) =>
            kestrel.HandleAsync(context, new ListenerBinding(port, Interception.CaptureDispatch.OriginalDestinationOf(context), PeerOf(context)));

        /// <summary>The verified peer of an mTLS connection (ConnectionDispatch put it in the connection's items); null for plaintext.</summary>
        private static Security.Mtls.PeerIdentity? PeerOf(HttpContext context) =>
            context.Features.Get<Microsoft.AspNetCore.Connections.Features.IConnectionItemsFeature>()?.Items
                .TryGetValue(Security.Mtls.PeerIdentity.ConnectionItemKey, out var value) == true ? value as Security.Mtls.PeerIdentity : null;
    }
}
