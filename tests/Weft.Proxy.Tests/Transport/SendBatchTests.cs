using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Weft.Proxy.Transport;

namespace Weft.Proxy.Tests.Transport;

/// <summary>
/// Sends flushed on a loop's own thread go out together once per epoll batch (Transport/SendBatch).
/// A flush there completes before its bytes leave, so what the writer promises must still hold through
/// real sockets: bytes arrive whole and in order, a peer that stops reading stops the writer (the
/// writer does not take everything it is given), and completing the writer sends the rest, then a FIN.
/// </summary>
public sealed class SendBatchTests
{
    /// <summary>
    /// Resumes on the loop's thread: the continuation of a read still pending when called (the caller
    /// sends the bytes that complete it, <see cref="GoAsync"/>, after this has returned its task).
    /// </summary>
    private static async Task<string?> OnTheLoopAsync(PipeReader input)
    {
        // Not back to xunit's context: the rest of the writer runs where the read completed.
        var read = await input.ReadAsync().ConfigureAwait(false);
        input.AdvanceTo(read.Buffer.End);
        return Thread.CurrentThread.Name;
    }

    private static Task GoAsync(Socket client) => client.SendAsync("go"u8.ToArray(), SocketFlags.None);

    /// <summary>Writes <paramref name="bytes"/> of a counting pattern (a little-endian uint per 4 bytes) from <paramref name="counter"/> on.</summary>
    private static void WritePattern(PipeWriter output, int bytes, ref uint counter)
    {
        var span = output.GetSpan(bytes);
        for (var i = 0; i < bytes; i += 4)
            BinaryPrimitives.WriteUInt32LittleEndian(span[i..], counter++);
        output.Advance(bytes);
    }

    /// <summary>Reads until the FIN; checks the pattern as it comes.</summary>
    private static async Task<long> ReceivePatternAsync(Socket client)
    {
        var buffer = new byte[256 * 1024];
        var carry = new byte[4];
        int carried = 0, n;
        long total = 0;
        uint expected = 0;
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while ((n = await client.ReceiveAsync(buffer.AsMemory(), SocketFlags.None, deadline.Token)) > 0)
        {
            total += n;
            for (var i = 0; i < n; i++)
            {
                carry[carried++] = buffer[i];
                if (carried < 4)
                    continue;
                carried = 0;
                var value = BinaryPrimitives.ReadUInt32LittleEndian(carry);
                if (value != expected)
                    throw new InvalidDataException($"at byte {total - n + i - 3}: {value}, expected {expected}");
                expected++;
            }
        }
        Assert.Equal(0, carried);
        return total;
    }

    [IoUringFact]
    public async Task A_peer_that_stops_reading_stops_small_flushes_from_completing_and_then_gets_every_byte_in_order()
    {
        var (transport, listener, client, server) = await LoopPair.OpenAsync();
        using (transport)
        using (client)
        {
            Assert.True(transport.Batching);
            var output = server.Transport.Output;
            long written = 0;
            var onTheLoop = 0;
            Task<FlushResult>? stalled = null;
            string? thread = null;
            var writing = Write();
            await GoAsync(client);
            async Task Write()
            {
                thread = await OnTheLoopAsync(server.Transport.Input).ConfigureAwait(false);
                uint counter = 0;
                // 1 KB flushes, as a copy loop makes them when its source always has bytes. A flush
                // that waits for the batch resumes soon; one that waits on the peer, which reads
                // nothing, never does: only that may stop the loop, and must, long before 256 MB.
                while (written < 256L * 1024 * 1024)
                {
                    if (Thread.CurrentThread.Name == thread)
                        onTheLoop++;
                    WritePattern(output, 1024, ref counter);
                    written += 1024;
                    var flush = output.FlushAsync().AsTask();
                    if (!flush.IsCompleted && await Task.WhenAny(flush, Task.Delay(TimeSpan.FromSeconds(2))).ConfigureAwait(false) != flush)
                    {
                        stalled = flush;
                        return;
                    }
                    Assert.False((await flush.ConfigureAwait(false)).IsCompleted);
                }
            }
            await writing.WaitAsync(TimeSpan.FromSeconds(60));
            Assert.Equal("weft loop 0", thread);
            Assert.True(onTheLoop > 16, $"only {onTheLoop} flushes were made on the loop's thread");
            Assert.NotNull(stalled);
            // What the kernel's socket buffers hold on loopback, plus the writer's bounded backlog.
            Assert.InRange(written, 64 * 1024, 32L * 1024 * 1024);

            var receiving = ReceivePatternAsync(client);
            var result = await stalled.WaitAsync(TimeSpan.FromSeconds(30));
            Assert.False(result.IsCompleted);
            await output.CompleteAsync();
            Assert.Equal(written, await receiving);
            await server.DisposeAsync();
            await listener.DisposeAsync();
        }
    }

    [IoUringFact]
    public async Task Small_and_large_flushes_mixed_on_the_loop_thread_then_complete_arrive_whole_in_order_and_end_with_a_FIN()
    {
        var (transport, listener, client, server) = await LoopPair.OpenAsync();
        using (transport)
        using (client)
        {
            var output = server.Transport.Output;
            var receiving = ReceivePatternAsync(client);
            long written = 0;
            string? thread = null;
            var writing = Write();
            await GoAsync(client);
            async Task Write()
            {
                thread = await OnTheLoopAsync(server.Transport.Input).ConfigureAwait(false);
                uint counter = 0;
                for (var i = 0; i < 400; i++)
                {
                    // Mostly small (batched); every 25th past the batch's limit: 100 KB waits for the batch
                    // to stage it, 300 KB outgrows the staging area and is sent directly.
                    var size = i % 25 != 24 ? 4 * (1 + (i * 7 % 300)) : i % 50 == 49 ? 300_000 : 100_000;
                    WritePattern(output, size, ref counter);
                    written += size;
                    await output.FlushAsync().ConfigureAwait(false);
                }
                // Completed right after a batched flush: the batch's bytes still go, then the FIN.
                WritePattern(output, 64, ref counter);
                written += 64;
                await output.FlushAsync().ConfigureAwait(false);
                await output.CompleteAsync().ConfigureAwait(false);
            }
            await writing.WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal("weft loop 0", thread);
            Assert.Equal(written, await receiving.WaitAsync(TimeSpan.FromSeconds(30)));
            await server.Transport.Input.CompleteAsync();
            await server.DisposeAsync();
            await listener.DisposeAsync();
        }
    }

    [IoUringFact]
    public async Task Sends_io_uring_refuses_go_out_the_ordinary_way_whole_and_in_order_and_are_counted()
    {
        var (transport, listener, client, server) = await LoopPair.OpenAsync();
        using (transport)
        using (client)
        {
            var output = server.Transport.Output;
            var receiving = ReceivePatternAsync(client);
            long written = 0;
            var refusals = 3;
            var before = TransportCounters.BatchFallbacks;
            var writing = Write();
            await GoAsync(client);
            try
            {
                await writing.WaitAsync(TimeSpan.FromSeconds(30));
            }
            finally
            {
                Native.Fault = null;
            }
            Assert.Equal(written, await receiving.WaitAsync(TimeSpan.FromSeconds(30)));
            Assert.True(Volatile.Read(ref refusals) < 0, "every refusal was used");
            Assert.True(TransportCounters.BatchFallbacks >= before + 3, $"{TransportCounters.BatchFallbacks - before} fallbacks counted");
            await server.Transport.Input.CompleteAsync();
            await server.DisposeAsync();
            await listener.DisposeAsync();

            async Task Write()
            {
                await OnTheLoopAsync(server.Transport.Input).ConfigureAwait(false);
                // The loop's first three submissions fail as io_uring_enter does when the kernel is short of memory.
                var loop = Environment.CurrentManagedThreadId;
                Native.Fault = (point, _) => point == Native.FaultPoint.IoUringEnter && Environment.CurrentManagedThreadId == loop
                    && Interlocked.Decrement(ref refusals) >= 0 ? Native.ENOMEM : 0;
                uint counter = 0;
                for (var i = 0; i < 200; i++)
                {
                    WritePattern(output, 1024, ref counter);
                    written += 1024;
                    await output.FlushAsync().ConfigureAwait(false);
                }
                await output.CompleteAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>Data segments this socket has received so far (tcp_info's tcpi_data_segs_in, Linux 4.6+).</summary>
    private static uint DataSegmentsIn(Socket socket)
    {
        var info = new byte[232];
        var length = socket.GetRawSocketOption(6 /* IPPROTO_TCP */, 11 /* TCP_INFO */, info);
        Assert.True(length >= 156, $"tcp_info is {length} bytes: no tcpi_data_segs_in");
        return BinaryPrimitives.ReadUInt32LittleEndian(info.AsSpan(152));
    }

    [IoUringFact]
    public async Task Flushes_made_one_after_another_in_one_batch_leave_in_one_segment()
    {
        // A proxied response's head and body, flushed as each is ready while the loop works through
        // one batch, must reach the peer in one segment: as two, each costs a whole trip through the
        // kernel on both sides and the peer's ACK (docs/proxy.md, "Batched sends").
        var (transport, listener, client, server) = await LoopPair.OpenAsync();
        using (transport)
        using (client)
        {
            client.NoDelay = true;
            var output = server.Transport.Output;
            var before = DataSegmentsIn(client);
            var writing = Write();
            await GoAsync(client);
            await writing.WaitAsync(TimeSpan.FromSeconds(30));
            var received = new byte[300];
            var got = 0;
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            while (got < received.Length)
                got += await client.ReceiveAsync(received.AsMemory(got), SocketFlags.None, deadline.Token);
            uint counter = 0;
            for (var i = 0; i < received.Length; i += 4)
                Assert.Equal(counter++, BinaryPrimitives.ReadUInt32LittleEndian(received.AsSpan(i)));
            Assert.Equal(1u, DataSegmentsIn(client) - before);
            await server.DisposeAsync();
            await listener.DisposeAsync();

            async Task Write()
            {
                await OnTheLoopAsync(server.Transport.Input).ConfigureAwait(false);
                uint counter = 0;
                for (var i = 0; i < 3; i++)
                {
                    WritePattern(output, 100, ref counter);
                    var flush = output.FlushAsync();
                    Assert.True(flush.IsCompletedSuccessfully, "a small flush on the loop's thread completes at once");
                    await flush.ConfigureAwait(false);
                }
            }
        }
    }

    [Fact]
    public async Task With_batching_off_the_loop_sends_at_once_and_says_so()
    {
        var (transport, listener, client, server) = await LoopPair.OpenAsync(sendBatch: false);
        using (transport)
        using (client)
        {
            Assert.False(transport.Batching);
            Assert.Equal("1 event loop, sends one by one", transport.Describe());
            var output = server.Transport.Output;
            var receiving = ReceivePatternAsync(client);
            var writing = Write();
            await GoAsync(client);
            await writing.WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(1000, await receiving.WaitAsync(TimeSpan.FromSeconds(30)));
            await server.DisposeAsync();
            await listener.DisposeAsync();

            async Task Write()
            {
                await OnTheLoopAsync(server.Transport.Input).ConfigureAwait(false);
                uint counter = 0;
                WritePattern(output, 1000, ref counter);
                await output.FlushAsync().ConfigureAwait(false);
                await output.CompleteAsync().ConfigureAwait(false);
            }
        }
    }
}
