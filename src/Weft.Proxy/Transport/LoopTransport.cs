using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using Microsoft.AspNetCore.Connections;

namespace Weft.Proxy.Transport;

/// <summary>
/// Weft's own socket transport for the data plane (docs/proxy.md, "Transport"): a few
/// <see cref="EventLoop"/> threads, listeners Kestrel binds through (IConnectionListenerFactory) and
/// upstream connects for the lean HTTP/1.1 path. Every socket's readiness and the request code it
/// resumes run on one loop thread, and reads and writes are direct system calls on pooled buffers.
/// </summary>
internal sealed class LoopTransport : IConnectionListenerFactory, IDisposable
{
    private readonly EventLoop[] _loops;
    private int _next;

    public LoopTransport(int loops, bool sendBatch = true)
    {
        if (!Native.Supported)
            throw new PlatformNotSupportedException("the loop transport needs Linux on x86-64");
        _loops = new EventLoop[Math.Max(1, loops)];
        for (var i = 0; i < _loops.Length; i++)
            _loops[i] = new EventLoop($"weft loop {i}", sendBatch);
    }

    /// <summary>For the startup log: how many loops, and how they send.</summary>
    public string Describe() =>
        $"{_loops.Length} event loop{(_loops.Length == 1 ? "" : "s")}, " +
        (Batching ? "sends batched through io_uring" : "sends one by one");

    /// <summary>Every loop batches its sends (<see cref="SendBatch"/>).</summary>
    public bool Batching => _loops.All(l => l.Batching);

    /// <summary>Connections are spread over the loops in turn.</summary>
    internal EventLoop NextLoop() => _loops[(int)((uint)Interlocked.Increment(ref _next) % (uint)_loops.Length)];

    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        if (endpoint is not IPEndPoint ip)
            throw new NotSupportedException($"the loop transport listens on IP endpoints, not {endpoint}");
        return new ValueTask<IConnectionListener>(new LoopListener(this, ip));
    }

    /// <summary>A connected upstream socket, or the connect error (refused, unreachable, timed out) as an exception.</summary>
    public async ValueTask<ConnectionContext> ConnectAsync(IPEndPoint endpoint, CancellationToken cancellationToken)
    {
        var family = endpoint.AddressFamily == AddressFamily.InterNetwork ? 2 : 10;
        var fd = Native.socket(family, Native.SOCK_STREAM | Native.SOCK_NONBLOCK | Native.SOCK_CLOEXEC, 0);
        if (fd < 0)
            throw new SocketException(Native.LastError);
        var handle = new LoopSocketHandle(fd);
        var one = 1;
        Native.setsockopt(fd, Native.IPPROTO_TCP, Native.TCP_NODELAY, ref one, sizeof(int));
        var address = new byte[28];
        var length = Native.SocketAddress(endpoint, address);
        if (Native.connect(fd, ref address[0], length) != 0 && Native.LastError is var errno && errno != Native.EINPROGRESS)
        {
            handle.Dispose();
            throw new SocketException(errno);
        }
        LoopConnection connection;
        try
        {
            connection = new LoopConnection(handle, NextLoop(), remote: endpoint, connecting: true);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
        try
        {
            await connection.ConnectEdge.WaitAsync(cancellationToken).ConfigureAwait(false);
            var error = connection.ConnectError();
            if (error != 0)
                throw new SocketException(error);
            return connection;
        }
        catch
        {
            connection.Abort(new ConnectionAbortedException("connect failed"));
            throw;
        }
    }

    public void Dispose()
    {
        foreach (var loop in _loops)
            loop.Dispose();
    }

    /// <summary>One bound port: accepts on its loop's thread until unbound, hands connections to Kestrel's accept loop.</summary>
    private sealed class LoopListener : IConnectionListener, IEventHandler
    {
        private readonly LoopTransport _transport;
        private readonly Socket _socket;
        private readonly EventLoop _loop;
        private readonly ulong _token;
        private readonly Channel<ConnectionContext> _accepted = Channel.CreateUnbounded<ConnectionContext>(
            new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        private int _unbound;

        public LoopListener(LoopTransport transport, IPEndPoint endpoint)
        {
            _transport = transport;
            _socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                if (endpoint.AddressFamily == AddressFamily.InterNetworkV6 && endpoint.Address.Equals(IPAddress.IPv6Any))
                    _socket.DualMode = true;
                _socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
                _socket.Bind(endpoint);
                _socket.Listen(512);
                _socket.Blocking = false;
                EndPoint = _socket.LocalEndPoint!;
                _loop = transport.NextLoop();
                _token = _loop.Register(_socket.Handle, this, Native.EPOLLIN);
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.AddressAlreadyInUse)
            {
                _socket.Dispose();
                throw new AddressInUseException(ex.Message, ex);
            }
            catch
            {
                _socket.Dispose();
                throw;
            }
        }

        public EndPoint EndPoint { get; }

        void IEventHandler.OnEvents(uint events)
        {
            while (Volatile.Read(ref _unbound) == 0)
            {
                var fd = Native.accept4(_socket.Handle, 0, 0, Native.SOCK_NONBLOCK | Native.SOCK_CLOEXEC);
                if (fd < 0)
                    return;                                  // EAGAIN: drained until the next edge (errors: the next edge retries)
                var one = 1;
                Native.setsockopt(fd, Native.IPPROTO_TCP, Native.TCP_NODELAY, ref one, sizeof(int));
                var connection = new LoopConnection(new LoopSocketHandle(fd), _transport.NextLoop());
                if (!_accepted.Writer.TryWrite(connection))
                    connection.Abort(new ConnectionAbortedException("the listener was unbound"));
            }
        }

        public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
        {
            try
            {
                return await _accepted.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (ChannelClosedException)
            {
                return null;
            }
        }

        public ValueTask UnbindAsync(CancellationToken cancellationToken = default)
        {
            if (Interlocked.Exchange(ref _unbound, 1) == 0)
            {
                _loop.Unregister(_token);
                _socket.Dispose();
                _accepted.Writer.TryComplete();
            }
            return ValueTask.CompletedTask;
        }

        public async ValueTask DisposeAsync()
        {
            await UnbindAsync().ConfigureAwait(false);
            while (_accepted.Reader.TryRead(out var pending))
                await pending.DisposeAsync().ConfigureAwait(false);
        }
    }
}
