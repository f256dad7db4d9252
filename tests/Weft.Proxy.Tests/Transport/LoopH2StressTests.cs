using System.Net;
using System.Text;
using Microsoft.AspNetCore.Http;
using Weft.Proxy.Tests.Support;
using Xunit.Abstractions;

namespace Weft.Proxy.Tests.Transport;

using Protocol = Weft.Protocol.Discovery.Protocol;

/// <summary>
/// HTTP/2 over the loop transport under concurrency: 40 rounds of 64 client-streaming calls, each
/// sending its body in 20 flushed chunks, on fresh connections each round. Every call must come back
/// 200 with the app's count of what it received.
/// </summary>
public sealed class LoopH2StressTests(ITestOutputHelper log)
{
    [Fact]
    public async Task Many_concurrent_client_streams_over_h2c_all_complete()
    {
        await using var backend = await Backend.StartAsync("count", async ctx =>
        {
            var buffer = new byte[4096];
            long total = 0;
            int n;
            while ((n = await ctx.Request.Body.ReadAsync(buffer)) > 0)
                total += n;
            ctx.Response.ContentType = "application/grpc";
            await ctx.Response.WriteAsync(total.ToString(System.Globalization.CultureInfo.InvariantCulture));
            ctx.Response.AppendTrailer("grpc-status", "0");
        }, http2Only: true);
        await using var proxy = await TestProxy.StartAsync(options: new ProxyHostOptions { ListenerDrainTimeout = TimeSpan.FromSeconds(10), LoopTransport = true });
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port, protocol: Protocol.Grpc)
            .Routes("rt", ConfigBuilder.Route("count")).Cluster("count", Protocol.Grpc, (backend.Port, "v1")).Build());

        var failures = 0;
        for (var round = 0; round < 40; round++)
        {
            using var client = new HttpClient(new SocketsHttpHandler { UseProxy = false, EnableMultipleHttp2Connections = true })
            { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
            var calls = Enumerable.Range(0, 64).Select(async i =>
            {
                var request = new HttpRequestMessage(HttpMethod.Post, "/svc/Count")
                {
                    Version = HttpVersion.Version20,
                    VersionPolicy = HttpVersionPolicy.RequestVersionExact,
                    Content = new ChunkContent(20, 100 + i),
                };
                request.Content.Headers.ContentType = new("application/grpc");
                using var response = await client.SendAsync(request).WaitAsync(TimeSpan.FromSeconds(20));
                var body = await response.Content.ReadAsStringAsync();
                if (response.StatusCode != HttpStatusCode.OK || body != (20 * (100 + i)).ToString(System.Globalization.CultureInfo.InvariantCulture))
                {
                    Interlocked.Increment(ref failures);
                    log.WriteLine($"round {round} call {i}: {(int)response.StatusCode} {body}");
                }
            });
            await Task.WhenAll(calls);
        }
        Assert.Equal(0, failures);
    }

    private sealed class ChunkContent(int chunks, int size) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            var chunk = Encoding.ASCII.GetBytes(new string('x', size));
            for (var i = 0; i < chunks; i++)
            {
                await stream.WriteAsync(chunk);
                await stream.FlushAsync();
                if (i % 5 == 0)
                    await Task.Yield();
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = -1;
            return false;
        }
    }
}
