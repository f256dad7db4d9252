using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Weft.Proxy.Transport;

namespace Weft.Proxy.Tests.Transport;

/// <summary>
/// Errors one connection meets on a loop's thread cost that connection, never the process: a handler
/// that throws, a socket epoll will not take, a batch io_uring refuses. Each is counted
/// (<see cref="TransportCounters"/>) and the loop goes on serving the others. ENOSPC and ENOMEM cannot be
/// provoked safely on a shared machine (fs.epoll.max_user_watches is one limit for every user), so
/// those tests inject them through <see cref="Native.Fault"/>, aimed at the test's own sockets.
/// </summary>
public sealed class LoopFailureTests
{
    /// <summary>The loop still serves: a new client's bytes reach a new server connection.</summary>
    private static async Task AssertServesAsync(IConnectionListener listener)
    {
        using var client = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync((IPEndPoint)listener.EndPoint);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var server = await listener.AcceptAsync(timeout.Token) ?? throw new InvalidOperationException("no connection accepted");
        Assert.Equal(((IPEndPoint)client.LocalEndPoint!).Port, ((IPEndPoint)server.RemoteEndPoint!).Port);
        await client.SendAsync("ping"u8.ToArray(), SocketFlags.None);
        var read = await server.Transport.Input.ReadAsync(timeout.Token);
        Assert.Equal("ping"u8.ToArray(), System.Buffers.BuffersExtensions.ToArray(read.Buffer));
        server.Transport.Input.AdvanceTo(read.Buffer.End);
        await server.DisposeAsync();
    }

    [Fact]
    public async Task A_handler_that_throws_is_failed_and_counted_and_the_loop_goes_on_with_its_other_sockets()
    {
        using var loop = new EventLoop("weft test loop", sendBatch: false);
        var throwing = new TestHandler(throws: true);
        var counting = new TestHandler(throws: false);
        var before = TransportCounters.HandlerFailures;
        using var first = TestHandler.EventFd();
        using var second = TestHandler.EventFd();
        Assert.Equal(0, loop.TryRegister(first.Fd, throwing, Native.EPOLLIN, out _));
        Assert.Equal(0, loop.TryRegister(second.Fd, counting, Native.EPOLLIN, out _));

        first.Signal();
        var error = await throwing.Failed.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("a test handler that throws", error.Message);
        Assert.True(TransportCounters.HandlerFailures > before);
        Assert.NotNull(TransportCounters.FirstHandlerFailure);

        second.Signal();
        await counting.Called.Task.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Code_resumed_on_the_loop_that_throws_resets_its_own_connection_and_the_loop_serves_the_next()
    {
        var (transport, listener, client, server) = await LoopPair.OpenAsync();
        using (transport)
        using (client)
        {
            var before = TransportCounters.HandlerFailures;
            var read = server.Transport.Input.ReadAsync();
            Assert.False(read.IsCompleted);
            // Resumed inline by the loop's readable edge, as request code is: this one throws there.
            read.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(() => throw new InvalidOperationException("request code that throws on the loop"));
            await client.SendAsync("x"u8.ToArray(), SocketFlags.None);

            Assert.Equal(SocketError.ConnectionReset, await ConnectionResetTests.EndAsync(client));
            Assert.True(TransportCounters.HandlerFailures > before);
            await AssertServesAsync(listener);
            await server.DisposeAsync();
            await listener.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_ConnectionClosed_callback_that_throws_is_counted_not_the_end_of_the_process()
    {
        var (transport, listener, client, server) = await LoopPair.OpenAsync();
        using (transport)
        using (client)
        {
            var before = TransportCounters.HandlerFailures;
            var others = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            server.ConnectionClosed.Register(() => throw new InvalidOperationException("a ConnectionClosed callback that throws"));
            server.ConnectionClosed.Register(others.SetResult);
            server.Abort(new ConnectionAbortedException("closing"));
            await others.Task.WaitAsync(TimeSpan.FromSeconds(10));
            await LoopListenerTests.PollAsync(() => TransportCounters.HandlerFailures > before);
            await AssertServesAsync(listener);
            await server.DisposeAsync();
            await listener.DisposeAsync();
        }
    }

    [Theory]
    [InlineData(Native.ENOSPC)]
    [InlineData(Native.ENOMEM)]
    public async Task An_accepted_connection_epoll_refuses_is_reset_and_counted_and_the_listener_goes_on(int errno)
    {
        using var transport = new LoopTransport(1);
        var listener = await transport.BindAsync(new IPEndPoint(IPAddress.Loopback, 0));
        using var refused = new Socket(SocketType.Stream, ProtocolType.Tcp);
        refused.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var refusedPort = ((IPEndPoint)refused.LocalEndPoint!).Port;
        var before = TransportCounters.RegisterFailures;
        Native.Fault = (point, fd) => point == Native.FaultPoint.EpollAdd && Native.EndPoint(fd, peer: true)?.Port == refusedPort ? errno : 0;
        try
        {
            // The reset may come before the connect has finished on this side.
            var connect = await Record.ExceptionAsync(() => refused.ConnectAsync((IPEndPoint)listener.EndPoint));
            var end = connect is SocketException e ? e.SocketErrorCode : await ConnectionResetTests.EndAsync(refused);
            Assert.Equal(SocketError.ConnectionReset, end);
            Assert.True(TransportCounters.RegisterFailures > before);
            // The refused connection never reached AcceptAsync: the next one accepted is the next client's.
            await AssertServesAsync(listener);
        }
        finally
        {
            Native.Fault = null;
        }
        await listener.DisposeAsync();
    }

    [Fact]
    public async Task An_upstream_connect_epoll_refuses_fails_that_connect_with_the_error()
    {
        using var transport = new LoopTransport(1);
        using var upstream = new Socket(SocketType.Stream, ProtocolType.Tcp);
        upstream.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        upstream.Listen();
        var before = TransportCounters.RegisterFailures;
        // ConnectAsync registers on the calling thread, before its first wait.
        var thread = Environment.CurrentManagedThreadId;
        Native.Fault = (point, _) => point == Native.FaultPoint.EpollAdd && Environment.CurrentManagedThreadId == thread ? Native.ENOSPC : 0;
        SocketException error;
        try
        {
            error = await Assert.ThrowsAsync<SocketException>(() => transport.ConnectAsync((IPEndPoint)upstream.LocalEndPoint!, CancellationToken.None).AsTask());
        }
        finally
        {
            Native.Fault = null;
        }
        Assert.Equal(SocketError.NoBufferSpaceAvailable, error.SocketErrorCode);
        Assert.True(TransportCounters.RegisterFailures > before);

        // The next connect works.
        var connection = await transport.ConnectAsync((IPEndPoint)upstream.LocalEndPoint!, CancellationToken.None);
        await connection.DisposeAsync();
    }

    [Fact]
    public async Task A_refused_connect_reports_ConnectionRefused()
    {
        using var transport = new LoopTransport(1);
        using var closed = new Socket(SocketType.Stream, ProtocolType.Tcp);
        closed.Bind(new IPEndPoint(IPAddress.Loopback, 0));          // bound, never listening: connects are refused
        var error = await Assert.ThrowsAsync<SocketException>(() => transport.ConnectAsync((IPEndPoint)closed.LocalEndPoint!, CancellationToken.None).AsTask());
        Assert.Equal(SocketError.ConnectionRefused, error.SocketErrorCode);
    }

    /// <summary>A handler for an eventfd: records its first event, or throws from it.</summary>
    private sealed class TestHandler(bool throws) : IEventHandler
    {
        public TaskCompletionSource Called { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource<Exception> Failed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void OnEvents(uint events)
        {
            if (throws)
                throw new InvalidOperationException("a test handler that throws");
            Called.TrySetResult();
        }

        public void OnFailed(Exception error) => Failed.TrySetResult(error);

        public static EventFd EventFd() => new(Native.eventfd(0, Native.EFD_NONBLOCK | Native.EFD_CLOEXEC));
    }

    private sealed class EventFd(int fd) : IDisposable
    {
        public nint Fd => fd;

        public void Signal()
        {
            ulong one = 1;
            Native.write(fd, ref one, sizeof(ulong));
        }

        public void Dispose() => Native.close(fd);
    }
}
