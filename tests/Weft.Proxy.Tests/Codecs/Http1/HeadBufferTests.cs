using Weft.Proxy.Tests.Support;
using Xunit.Abstractions;

namespace Weft.Proxy.Tests.Codecs.Http1;

/// <summary>
/// A connection that met one large head does not keep the memory it grew for it: idle keep-alive
/// connections hold their small buffers, whatever their last request looked like.
/// </summary>
[Collection(nameof(HeadBufferTests))]
public sealed class HeadBufferTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Buffers_grown_by_one_large_head_shrink_back()
    {
        await using var upstream = new RecordingUpstream();
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("app")).Cluster("app", upstream.Port).Build());
        // One array per request kind, shared by every client: a socket keeps a reference to the last
        // buffer it sent, which would otherwise count against the proxy here.
        var small = System.Text.Encoding.ASCII.GetBytes("GET /small HTTP/1.1\r\nHost: a\r\nX-Big: b\r\n\r\n");
        var large = System.Text.Encoding.ASCII.GetBytes("GET /large HTTP/1.1\r\nHost: a\r\nX-Big: " + new string('b', 24 * 1024) + "\r\n\r\n");

        // The same connections (and test clients, and upstream) twice: what the large head adds is the proxy's to keep or not.
        await HeldPerConnectionAsync(proxy, port, small);         // warm-up: pools, threads, first-time allocations
        var control = await HeldPerConnectionAsync(proxy, port, small);
        var afterLarge = await HeldPerConnectionAsync(proxy, port, large);
        output.WriteLine($"heap held per idle connection: {control} bytes after a small head, {afterLarge} after a 24 KB one");
        Assert.True(afterLarge - control < 4 * 1024, $"{afterLarge - control} bytes more per idle connection after a 24 KB head: its buffer was kept");
    }

    private static async Task<long> HeldPerConnectionAsync(TestProxy proxy, int port, byte[] request)
    {
        const int connections = 300;
        var clients = new List<RawClient>();
        var before = Heap();
        for (var i = 0; i < connections; i++)
        {
            var client = await RawClient.ConnectAsync(port);
            await client.SendAsync(request);
            Assert.StartsWith("HTTP/1.1 200", await client.ReadResponseAsync());
            clients.Add(client);
        }
        var held = (Heap() - before) / connections;
        foreach (var client in clients)
            await client.DisposeAsync();
        // The proxy lets go of every connection before the next measurement starts.
        await Eventually.TrueAsync(async () =>
        {
            var scrape = await proxy.MetricsAsync();
            return TestProxy.MetricValue(scrape, $"weft_tcp_connections_opened_total{{listener_port=\"{port}\"}}")
                == TestProxy.MetricValue(scrape, $"weft_tcp_connections_closed_total{{listener_port=\"{port}\"}}");
        }, "every connection closed by the proxy");
        return held;
    }

    private static long Heap()
    {
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        return GC.GetTotalMemory(forceFullCollection: true);
    }
}

[CollectionDefinition(nameof(HeadBufferTests), DisableParallelization = true)]
public sealed class HeadBufferCollection;
