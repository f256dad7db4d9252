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
        try
        {
            for (var i = 0; i < _loops.Length; i++)
                _loops[i] = new EventLoop($"weft loop {i}", sendBatch);
        }
        catch
        {
            Dispose();                                  // the loops already running, and their descriptors
            throw;
        }
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
            throw Native.SocketException(Native.LastError);
        var handle = new LoopSocketHandle(fd);
        var one = 1;
        Native.setsockopt(fd, Native.IPPROTO_TCP, Native.TCP_NODELAY, ref one, sizeof(int));
        var address = new byte[28];
        var length = Native.SocketAddress(endpoint, address);
        if (Native.connect(fd, ref address[0], length) != 0 && Native.LastError is var errno && errno != Native.EINPROGRESS)
        {
            handle.Dispose();
            throw Native.SocketException(errno);
        }
        var connection = LoopConnection.TryCreate(handle, NextLoop(), out var registerError, remote: endpoint, connecting: true);
        if (connection is null)
        {
            handle.Dispose();
            throw Native.SocketException(registerError);
        }
        try
        {
            await connection.ConnectEdge.WaitAsync(cancellationToken).ConfigureAwait(false);
            var error = connection.ConnectError();
            if (error != 0)
                throw Native.SocketException(error);
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
            loop?.Dispose();
    }

    /// <summary>One bound port: accepts on its loop's thread until unbound, hands connections to Kestrel's accept loop.</summary>
    private sealed class LoopListener : IConnectionListener, IEventHandler
    {
        /// <summary>How long an accept that found no descriptor free waits before it tries again (haproxy's figure).</summary>
        private const int ExhaustedRetryMilliseconds = 100;

        private const int EPERM = 1, EPROTO = 71;

        private readonly LoopTransport _transport;
        private readonly Socket _socket;
        private readonly EventLoop _loop;
        private readonly ulong _token;
        // Not SingleReader: DisposeAsync drains what is left while an AcceptAsync may still be reading, and
        // a single-reader channel read from two threads hands out nulls.
        private readonly Channel<ConnectionContext> _accepted = Channel.CreateUnbounded<ConnectionContext>(
            new UnboundedChannelOptions { SingleReader = false, SingleWriter = true });
        // Taken around each accept4 and by unbind to mark it unbound: the socket is closed (and its number
        // free for the kernel to hand out again) only once no accept can still be using it.
        private readonly Lock _acceptGate = new();
        private bool _unbound;

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
                if (_loop.TryRegister(_socket.Handle, this, Native.EPOLLIN, out _token) is var errno and not 0)
                    throw Native.SocketException(errno);
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

        /// <summary>Accepts the whole backlog: the edge that announced it will not come again for connections already queued.</summary>
        void IEventHandler.OnEvents(uint events)
        {
            while (true)
            {
                var fd = Accept(out var errno);
                if (fd >= 0)
                {
                    Serve(fd);
                    continue;
                }
                switch (errno)
                {
                    case Native.EINTR or Native.ECONNABORTED or EPROTO or EPERM:
                        continue;                               // that one connection is gone (or refused by a firewall rule): the rest are still queued
                    case Native.EMFILE or Native.ENFILE or Native.ENOBUFS or Native.ENOMEM:
                        // Nothing to accept with: the queued connections raise no new edge, so try again on
                        // a timer rather than stall until another client connects.
                        TransportCounters.AcceptExhausted();
                        _loop.RetryAfter(this, ExhaustedRetryMilliseconds);
                        return;
                    default:
                        return;                                 // EAGAIN: drained until the next edge; EBADF, EINVAL: unbound
                }
            }
        }

        /// <summary>An accept that failed partway (counted by the loop): try again on a timer, for the same reason as above.</summary>
        void IEventHandler.OnFailed(Exception error) => _loop.RetryAfter(this, ExhaustedRetryMilliseconds);

        private int Accept(out int errno)
        {
            lock (_acceptGate)
            {
                if (_unbound)
                {
                    errno = Native.EBADF;
                    return -1;
                }
                return Native.Accept(_socket.Handle, out errno);
            }
        }

        private void Serve(int fd)
        {
            var handle = new LoopSocketHandle(fd);
            var one = 1;
            Native.setsockopt(fd, Native.IPPROTO_TCP, Native.TCP_NODELAY, ref one, sizeof(int));
            var connection = LoopConnection.TryCreate(handle, _transport.NextLoop(), out _);
            if (connection is null)
            {
                // The loop cannot watch it (counted): the client hears a reset, not silence.
                handle.ResetOnClose();
                handle.Dispose();
                return;
            }
            if (!_accepted.Writer.TryWrite(connection))
                connection.Abort(new ConnectionAbortedException("the listener was unbound"));
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
            lock (_acceptGate)
            {
                if (_unbound)
                    return ValueTask.CompletedTask;
                _unbound = true;
            }
            _loop.Unregister(_token);
            _socket.Dispose();
            _accepted.Writer.TryComplete();
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
