using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Weft.Proxy.Transport;

namespace Weft.Proxy.Tests.Transport;

/// <summary>The loop transport's listeners: unbound while they accept, and out of descriptors.</summary>
public sealed class LoopListenerTests
{
    /// <summary>
    /// The race itself, made to happen: the loop is held at the moment before its accept4 on a listener
    /// while another thread unbinds it and binds another (which the kernel gives the lowest free number:
    /// the first's, were it closed). The unbind must wait for the accept; the new listener gets its
    /// own client. Without the wait, the accept would take the new listener's connection.
    /// </summary>
    [Fact]
    public async Task An_unbind_waits_for_an_accept_the_loop_is_making_on_the_socket()
    {
        using var transport = new LoopTransport(1);
        var first = await transport.BindAsync(new IPEndPoint(IPAddress.Loopback, 0));
        var firstPort = ((IPEndPoint)first.EndPoint).Port;
        IConnectionListener? second = null;
        using var secondClient = new Socket(SocketType.Stream, ProtocolType.Tcp);
        Task? race = null;
        var unboundMeanwhile = true;
        Native.Fault = (point, fd) =>
        {
            if (point != Native.FaultPoint.Accept || Native.EndPoint(fd, peer: false)?.Port != firstPort || race is not null)
                return 0;
            race = Task.Run(async () =>
            {
                await first.UnbindAsync();
                second = await transport.BindAsync(new IPEndPoint(IPAddress.Loopback, 0));
                await secondClient.ConnectAsync((IPEndPoint)second.EndPoint);
            });
            unboundMeanwhile = race.Wait(TimeSpan.FromSeconds(1));
            return 0;
        };
        try
        {
            using var firstClient = new Socket(SocketType.Stream, ProtocolType.Tcp);
            await firstClient.ConnectAsync((IPEndPoint)first.EndPoint);
            await PollAsync(() => Volatile.Read(ref race) is not null);
            await race!.WaitAsync(TimeSpan.FromSeconds(10));
        }
        finally
        {
            Native.Fault = null;
        }
        Assert.False(unboundMeanwhile, "the unbind finished while the loop was about to accept on the socket");
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var accepted = await second!.AcceptAsync(timeout.Token) ?? throw new InvalidOperationException("the second listener ended");
        Assert.Equal(((IPEndPoint)secondClient.LocalEndPoint!).Port, ((IPEndPoint)accepted.RemoteEndPoint!).Port);
        Assert.Equal(((IPEndPoint)second.EndPoint).Port, ((IPEndPoint)accepted.LocalEndPoint!).Port);
        await accepted.DisposeAsync();
        await second.DisposeAsync();
        await first.DisposeAsync();
    }

    /// <summary>
    /// Round after round, a listener is unbound on the test's thread while its loop accepts a stream of
    /// clients, and the next listener is bound at once, so it is likely to get the number the first one
    /// just gave back. An accept the first listener still made on that number would take the second
    /// one's connection (and, unbound, reset it): every client of the second must be accepted by the
    /// second, and every connection either accepts must be to its own port.
    /// </summary>
    [Fact]
    public async Task Listeners_unbound_while_clients_connect_accept_only_their_own_connections()
    {
        using var transport = new LoopTransport(1);
        var wrong = new ConcurrentQueue<string>();
        for (var round = 0; round < 150; round++)
        {
            var first = await transport.BindAsync(new IPEndPoint(IPAddress.Loopback, 0));
            var firstPort = ((IPEndPoint)first.EndPoint).Port;
            var accepted = 0;
            var firstAccepts = AcceptAllAsync(first, firstPort, wrong, () => Interlocked.Increment(ref accepted));
            using var stop = new CancellationTokenSource();
            var firstClients = ConnectUntilAsync(firstPort, stop.Token);
            await PollAsync(() => Volatile.Read(ref accepted) >= 1 + round % 4);

            await first.UnbindAsync();
            var second = await transport.BindAsync(new IPEndPoint(IPAddress.Loopback, 0));
            var secondPort = ((IPEndPoint)second.EndPoint).Port;
            var clients = new List<Socket>();
            for (var i = 0; i < 3; i++)
            {
                var client = new Socket(SocketType.Stream, ProtocolType.Tcp);
                clients.Add(client);
                await client.ConnectAsync(IPAddress.Loopback, secondPort);
            }
            var expected = clients.Select(c => ((IPEndPoint)c.LocalEndPoint!).Port).ToHashSet();
            using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10)))
            {
                while (expected.Count > 0)
                {
                    var connection = await second.AcceptAsync(timeout.Token) ?? throw new InvalidOperationException("the second listener ended");
                    if (((IPEndPoint)connection.LocalEndPoint!).Port != secondPort)
                        wrong.Enqueue($"round {round}: the second listener (port {secondPort}) accepted a connection to {connection.LocalEndPoint}");
                    expected.Remove(((IPEndPoint)connection.RemoteEndPoint!).Port);     // a stray client of the first may land here if the port came back
                    await connection.DisposeAsync();
                }
            }

            await stop.CancelAsync();
            foreach (var client in await firstClients)
                client.Dispose();
            await first.DisposeAsync();
            await firstAccepts;
            await second.DisposeAsync();
            foreach (var client in clients)
                client.Dispose();
        }
        Assert.Empty(wrong);
    }

    /// <summary>
    /// A child process (its own descriptor limit, lowered) fills every descriptor it has; the test
    /// connects clients, which the kernel queues; the child's accept fails with EMFILE, and that spends
    /// the listener's edge. Then the child frees its descriptors, and no new client connects: the queued
    /// ones must be served all the same (without a retry they wait for an edge that never comes).
    /// </summary>
    [Fact]
    public async Task Clients_queued_while_no_descriptor_was_free_are_served_once_one_is_without_a_new_connection()
    {
        using var child = TransportChild.Start("accept-exhaustion");
        try
        {
            var port = int.Parse(await ExpectAsync(child, "port "), System.Globalization.CultureInfo.InvariantCulture);
            await ExpectAsync(child, "filled ");
            var clients = new List<Socket>();
            try
            {
                for (var i = 0; i < 5; i++)
                {
                    var client = new Socket(SocketType.Stream, ProtocolType.Tcp);
                    clients.Add(client);
                    await client.ConnectAsync(IPAddress.Loopback, port);      // completed by the kernel: queued, not accepted
                }
                await child.StandardInput.WriteLineAsync("connected");
                await child.StandardInput.FlushAsync();
                var exhausted = long.Parse(await ExpectAsync(child, "exhausted "), System.Globalization.CultureInfo.InvariantCulture);
                Assert.True(exhausted > 0, "the child's accept never ran out of descriptors: the test proves nothing");
                await ExpectAsync(child, "freed");

                var buffer = new byte[64];
                foreach (var client in clients)
                {
                    using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                    var n = await client.ReceiveAsync(buffer, SocketFlags.None, deadline.Token);
                    Assert.Equal("served\n", System.Text.Encoding.ASCII.GetString(buffer, 0, n));
                }
            }
            finally
            {
                foreach (var client in clients)
                    client.Dispose();
            }
            await child.StandardInput.WriteLineAsync("done");
            await child.StandardInput.FlushAsync();
            await child.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token);
            Assert.Equal(0, child.ExitCode);
        }
        finally
        {
            if (!child.HasExited)
                child.Kill();
        }
    }

    /// <summary>The child's next line, which must start with <paramref name="prefix"/>: the rest of it.</summary>
    private static async Task<string> ExpectAsync(System.Diagnostics.Process child, string prefix)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var line = await child.StandardOutput.ReadLineAsync(deadline.Token);
        if (line is null || !line.StartsWith(prefix, StringComparison.Ordinal))
        {
            var error = child.HasExited ? await child.StandardError.ReadToEndAsync(deadline.Token) : "";
            throw new InvalidOperationException($"the child said '{line}', expected '{prefix}...' {error}");
        }
        return line[prefix.Length..];
    }

    private static async Task AcceptAllAsync(IConnectionListener listener, int port, ConcurrentQueue<string> wrong, Action onAccepted)
    {
        while (await listener.AcceptAsync() is { } connection)
        {
            if (((IPEndPoint)connection.LocalEndPoint!).Port != port)
                wrong.Enqueue($"a listener on port {port} accepted a connection to {connection.LocalEndPoint}");
            onAccepted();
            await connection.DisposeAsync();
        }
    }

    /// <summary>Connects to the port as fast as it can until stopped (refused once it is unbound); returns the sockets.</summary>
    private static Task<List<Socket>> ConnectUntilAsync(int port, CancellationToken stop) => Task.Run(async () =>
    {
        var sockets = new List<Socket>();
        while (!stop.IsCancellationRequested)
        {
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
            sockets.Add(socket);
            try
            {
                await socket.ConnectAsync(IPAddress.Loopback, port);
            }
            catch (SocketException)
            {
                // Unbound (refused), or reset with the rest of the unbound listener's queue.
            }
        }
        return sockets;
    });

    internal static async Task PollAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException("the condition did not hold within 10 s");
            await Task.Delay(5);
        }
    }
}
