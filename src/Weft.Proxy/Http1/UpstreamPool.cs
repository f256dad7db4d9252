using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Logging;
using Weft.Proxy.Balancing;

namespace Weft.Proxy.Http1;

/// <summary>One keep-alive HTTP/1.1 connection to an endpoint, over Kestrel's socket transport (the same pipes as the client side).</summary>
internal sealed class UpstreamConnection(ConnectionContext context, EndpointPool pool)
{
    public ConnectionContext Context { get; } = context;
    public PipeReader Input { get; } = context.Transport.Input;
    public PipeWriter Output { get; } = context.Transport.Output;
    public EndpointPool Pool { get; } = pool;

    /// <summary>The response head buffer, reused for every response on this connection.</summary>
    public MessageHead Head { get; } = new();

    public long IdleSince;

    /// <summary>True when taken from the pool: a failure before any response byte may be a stale connection.</summary>
    public bool Reused;

    public void Abort() => Context.Abort();

    public async Task CloseAsync()
    {
        try
        {
            Context.Abort();
            await Context.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // Closing a broken connection: nothing to report.
        }
    }
}

/// <summary>Idle connections of one endpoint, last in first out (the warmest socket first). A lock over an array stack: no allocation per take/return.</summary>
internal sealed class EndpointPool(string host, int port, int maxIdle)
{
    private readonly Lock _lock = new();
    private readonly Stack<UpstreamConnection> _idle = new();

    public string Host { get; } = host;
    public int Port { get; } = port;

    public UpstreamConnection? TryTake(long now, long maxIdleTicks)
    {
        while (true)
        {
            UpstreamConnection? connection;
            lock (_lock)
            {
                if (!_idle.TryPop(out connection))
                    return null;
            }
            if (now - connection.IdleSince <= maxIdleTicks && IsQuiet(connection))
            {
                connection.Reused = true;
                return connection;
            }
            _ = connection.CloseAsync();
        }
    }

    /// <summary>An idle connection must have nothing to read: bytes or EOF mean the upstream closed it or misbehaved.</summary>
    private static bool IsQuiet(UpstreamConnection connection)
    {
        if (!connection.Input.TryRead(out var result))
            return true;
        var quiet = result.Buffer.IsEmpty && !result.IsCompleted && !result.IsCanceled;
        connection.Input.AdvanceTo(result.Buffer.Start);
        return quiet;
    }

    public void Return(UpstreamConnection connection, long now)
    {
        connection.IdleSince = now;
        lock (_lock)
        {
            if (_idle.Count < maxIdle)
            {
                _idle.Push(connection);
                return;
            }
        }
        _ = connection.CloseAsync();
    }

    public void CloseAll()
    {
        UpstreamConnection[] all;
        lock (_lock)
        {
            all = _idle.ToArray();
            _idle.Clear();
        }
        foreach (var c in all)
            _ = c.CloseAsync();
    }
}

/// <summary>
/// Pools of upstream HTTP/1.1 connections keyed by endpoint authority, so they outlive config
/// changes (as UpstreamClients' handlers do). Connects with the cluster's connect timeout; a failed
/// connect is an <see cref="Http.UpstreamConnectException"/>-equivalent result, never a guess from a message.
/// </summary>
internal sealed class UpstreamPool : IDisposable
{
    private readonly ConcurrentDictionary<string, EndpointPool> _pools = new(StringComparer.Ordinal);
    private readonly SocketConnectionContextFactory _factory;
    private readonly Http1Limits _limits;
    private readonly TimeProvider _time;
    private readonly long _maxIdleTicks;

    private readonly Transport.LoopTransport? _loops;

    public UpstreamPool(Http1Limits limits, TimeProvider time, bool inlineCompletions, ILogger logger, Transport.LoopTransport? loops = null)
    {
        _loops = loops;
        _limits = limits;
        _time = time;
        _maxIdleTicks = (long)(limits.UpstreamIdleTimeout.TotalSeconds * time.TimestampFrequency);
        _factory = new SocketConnectionContextFactory(
            new SocketConnectionFactoryOptions { UnsafePreferInlineScheduling = inlineCompletions }, logger);
    }

    public EndpointPool For(EndpointRuntime endpoint) =>
        _pools.TryGetValue(endpoint.Authority, out var pool) ? pool : _pools.GetOrAdd(endpoint.Authority, Create, endpoint);

    private EndpointPool Create(string _, EndpointRuntime endpoint) =>
        new(endpoint.Address, endpoint.Port, _limits.MaxIdleUpstreamConnectionsPerEndpoint);

    public UpstreamConnection? TryTakeIdle(EndpointPool pool) => pool.TryTake(_time.GetTimestamp(), _maxIdleTicks);

    public void Return(UpstreamConnection connection) => connection.Pool.Return(connection, _time.GetTimestamp());

    /// <summary>A new connection, or the connect error (refused, unreachable, timed out).</summary>
    public async ValueTask<(UpstreamConnection? Connection, Exception? Error)> ConnectAsync(EndpointPool pool, TimeSpan timeout)
    {
        if (_loops is not null)
            return await ConnectLoopAsync(_loops, pool, timeout).ConfigureAwait(false);
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            if (IPAddress.TryParse(pool.Host, out var ip))
                await socket.ConnectAsync(new IPEndPoint(ip, pool.Port), cts.Token).ConfigureAwait(false);
            else
                await socket.ConnectAsync(pool.Host, pool.Port, cts.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException)
        {
            socket.Dispose();
            return (null, ex);
        }
        return (new UpstreamConnection(_factory.Create(socket), pool), null);
    }

    private static async ValueTask<(UpstreamConnection? Connection, Exception? Error)> ConnectLoopAsync(Transport.LoopTransport loops,
        EndpointPool pool, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            if (!IPAddress.TryParse(pool.Host, out var ip))
            {
                var addresses = await Dns.GetHostAddressesAsync(pool.Host, cts.Token).ConfigureAwait(false);
                ip = addresses.Length > 0 ? addresses[0] : throw new SocketException((int)SocketError.HostNotFound);
            }
            var connection = await loops.ConnectAsync(new IPEndPoint(ip, pool.Port), cts.Token).ConfigureAwait(false);
            return (new UpstreamConnection(connection, pool), null);
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException)
        {
            return (null, ex);
        }
    }

    public void Dispose()
    {
        foreach (var pool in _pools.Values)
            pool.CloseAll();
        _pools.Clear();
        _factory.Dispose();
    }
}
