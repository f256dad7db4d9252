using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Weft.Proxy.Tests.Support;
using Weft.Proxy.Transport;

namespace Weft.Proxy.Tests.Transport;

/// <summary>
/// The event-loop transport (Transport/) through real sockets: pipe semantics Kestrel and the lean
/// path rely on, and whole-proxy traffic that once exposed its bugs. Every other proxy test also runs
/// over it, since it is the default.
/// </summary>
public sealed class LoopTransportTests
{
    [Fact]
    public async Task A_read_cancelled_by_its_token_throws_and_CancelPendingRead_returns_IsCanceled()
    {
        var (transport, listener, client, server) = await LoopPair.OpenAsync();
        using (transport)
        using (client)
        {
            var input = server.Transport.Input;
            using var cts = new CancellationTokenSource();
            var read = input.ReadAsync(cts.Token);
            Assert.False(read.IsCompleted);
            await cts.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await read);

            var pending = input.ReadAsync();
            input.CancelPendingRead();
            var canceled = await pending.AsTask().WaitAsync(TimeSpan.FromSeconds(10));
            Assert.True(canceled.IsCanceled);
            input.AdvanceTo(canceled.Buffer.Start);

            // Still usable: bytes sent now arrive.
            await client.SendAsync("hello"u8.ToArray(), SocketFlags.None);
            var result = await input.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Equal("hello", Encoding.ASCII.GetString(System.Buffers.BuffersExtensions.ToArray(result.Buffer)));
            input.AdvanceTo(result.Buffer.End);
            await server.DisposeAsync();
            await listener.DisposeAsync();
        }
    }

    [Fact]
    public async Task Bytes_then_FIN_arrive_as_data_then_the_end_and_a_reply_still_goes_out_before_an_orderly_close()
    {
        var (transport, listener, client, server) = await LoopPair.OpenAsync();
        using (transport)
        using (client)
        {
            // The FIN queued right behind the data raises no edge of its own.
            var payload = new byte[300_000];
            Random.Shared.NextBytes(payload);
            await client.SendAsync(payload, SocketFlags.None);
            client.Shutdown(SocketShutdown.Send);

            var input = server.Transport.Input;
            long received = 0;
            while (true)
            {
                var result = await input.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
                received += result.Buffer.Length;
                input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                    break;
            }
            Assert.Equal(payload.Length, received);

            // Half-closed: the other direction still works, and closing sends a FIN, not a reset.
            var reply = new byte[2_000_000];
            Random.Shared.NextBytes(reply);
            await server.Transport.Output.WriteAsync(reply);
            await server.Transport.Input.CompleteAsync();
            await server.Transport.Output.CompleteAsync();
            var back = new MemoryStream();
            var buffer = new byte[65536];
            int n;
            while ((n = await client.ReceiveAsync(buffer, SocketFlags.None).WaitAsync(TimeSpan.FromSeconds(10))) > 0)
                back.Write(buffer, 0, n);
            Assert.True(reply.AsSpan().SequenceEqual(back.ToArray()), "the reply arrived whole and in order");
            await server.DisposeAsync();
            await listener.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_reader_that_holds_everything_ends_at_4_MB_instead_of_growing_or_taking_the_loop_down()
    {
        var (transport, listener, client, server) = await LoopPair.OpenAsync();
        using (transport)
        using (client)
        {
            var sending = Task.Run(async () =>
            {
                var chunk = new byte[64 * 1024];
                try
                {
                    for (var i = 0; i < 160; i++)                       // 10 MB
                        await client.SendAsync(chunk, SocketFlags.None);
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException)
                {
                    // The server side gave up, or the test closed the client between two sends: expected.
                }
            });
            var input = server.Transport.Input;
            long held = 0;
            var failure = await Record.ExceptionAsync(async () =>
            {
                using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                while (true)
                {
                    var result = await input.ReadAsync(deadline.Token);
                    held = result.Buffer.Length;
                    input.AdvanceTo(result.Buffer.Start, result.Buffer.End);   // examined, never consumed
                    if (result.IsCompleted)
                        break;
                }
            });
            // The reads end (completed, or an IOException once nothing is left) at the limit, not after 10 MB.
            Assert.True(failure is null or IOException, $"unexpected {failure}");
            Assert.InRange(held, 2 * 1024 * 1024, 4 * 1024 * 1024);

            // The loop is still serving: a new connection works.
            using var other = new Socket(SocketType.Stream, ProtocolType.Tcp);
            await other.ConnectAsync((IPEndPoint)listener.EndPoint);
            var next = await listener.AcceptAsync() ?? throw new InvalidOperationException("no connection accepted");
            await other.SendAsync("ping"u8.ToArray(), SocketFlags.None);
            var ping = await next.Transport.Input.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Equal(4, ping.Buffer.Length);
            next.Transport.Input.AdvanceTo(ping.Buffer.End);
            await next.DisposeAsync();
            await server.DisposeAsync();
            client.Close();
            await sending;
            await listener.DisposeAsync();
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public async Task Concurrent_keep_alive_clients_each_get_their_own_answers_while_collections_and_finalizers_run(int loops)
    {
        // A descriptor closed behind the transport's back (once: by a finalizer) hands one
        // connection's bytes to another; every answer must name its own request.
        await using var backend = await Backend.StartAsync("app");
        await using var proxy = await TestProxy.StartAsync(options: new ProxyHostOptions { LoopTransport = true, LoopThreads = loops });
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("app")).Cluster("app", backend.Port).Build());

        using var stop = new CancellationTokenSource();
        var collector = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
                await Task.Delay(5);
            }
        });
        const int clients = 24, requests = 60;
        var work = Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
        {
            using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 1 })
            {
                BaseAddress = new Uri($"http://127.0.0.1:{port}"),
                Timeout = TimeSpan.FromSeconds(20),
            };
            for (var r = 0; r < requests; r++)
            {
                var body = await http.GetStringAsync($"/c{c}/r{r}");
                Assert.Contains($"path: /c{c}/r{r}\n", body, StringComparison.Ordinal);
            }
        })).ToArray();
        await Task.WhenAll(work);
        await stop.CancelAsync();
        await collector;
        Assert.Equal(clients * requests, backend.Requests);
    }
}
