using System.Net;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace Weft.Integration.DataPlane;

/// <summary>
/// The app behind the server-side sidecar, in the test process: one HTTP/1.1 port and one h2c
/// (prior knowledge) port, endpoints that exercise what a proxy must carry (a WebSocket echo among them).
/// </summary>
public sealed class TestApp : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _slowInFlight;

    private TestApp(WebApplication app) => _app = app;

    public int Http1Port { get; private set; }
    public int Http2Port { get; private set; }

    /// <summary>The /ws endpoint and what each of its sessions saw.</summary>
    public WebSocketEcho WebSockets { get; } = new();

    /// <summary>Requests to /slow that are waiting right now.</summary>
    public int SlowInFlight => Volatile.Read(ref _slowInFlight);

    /// <summary>The deterministic content of /bytes: byte i is (i * 31 + i / 4096) mod 256.</summary>
    public static void Fill(Span<byte> chunk, long offset)
    {
        for (var i = 0; i < chunk.Length; i++)
        {
            var n = offset + i;
            chunk[i] = (byte)(n * 31 + n / 4096);
        }
    }

    public static async Task<TestApp> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = null;
            k.Limits.MinRequestBodyDataRate = null;
            k.Limits.MinResponseDataRate = null;
            k.Limits.Http2.MaxStreamsPerConnection = 1000;
            k.Listen(IPAddress.Loopback, 0, o => o.Protocols = HttpProtocols.Http1);
            k.Listen(IPAddress.Loopback, 0, o => o.Protocols = HttpProtocols.Http2);
        });
        var app = builder.Build();
        var self = new TestApp(app);
        self.Map(app);
        await app.StartAsync();
        var ports = app.Urls.Select(u => new Uri(u).Port).ToArray();
        self.Http1Port = ports[0];
        self.Http2Port = ports[1];
        return self;
    }

    private void Map(WebApplication app)
    {
        WebSockets.Map(app);
        // Who served, over what: the protocol and the app-side connection id let tests see reuse and multiplexing.
        app.MapGet("/hello", (HttpContext c) => $"hello {c.Request.Protocol} {c.Connection.Id}");
        app.MapGet("/delay", async (HttpContext c, int ms) =>
        {
            await Task.Delay(ms);
            return $"{c.Request.Protocol} {c.Connection.Id}";
        });
        app.MapGet("/slow", async () =>
        {
            Interlocked.Increment(ref _slowInFlight);
            try { await Task.Delay(TimeSpan.FromSeconds(2)); }   // the deliberate 2 s handler
            finally { Interlocked.Decrement(ref _slowInFlight); }
            return "slow done";
        });
        app.MapPost("/echo", async (HttpContext c) =>
        {
            // No Content-Length: the answer is chunked on HTTP/1.1, streamed back as it arrives.
            c.Response.ContentType = "application/octet-stream";
            await c.Request.Body.CopyToAsync(c.Response.Body, 16 * 1024);
        });
        app.MapPost("/sha256", async (HttpContext c) =>
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var buffer = new byte[64 * 1024];
            long total = 0;
            int read;
            while ((read = await c.Request.Body.ReadAsync(buffer)) > 0)
            {
                hash.AppendData(buffer, 0, read);
                total += read;
            }
            return $"{total} {Convert.ToHexStringLower(hash.GetHashAndReset())}";
        });
        app.MapGet("/bytes", async (HttpContext c, long n) =>
        {
            c.Response.ContentType = "application/octet-stream";
            c.Response.ContentLength = n;
            var buffer = new byte[64 * 1024];
            for (long offset = 0; offset < n; offset += buffer.Length)
            {
                var size = (int)Math.Min(buffer.Length, n - offset);
                Fill(buffer.AsSpan(0, size), offset);
                await c.Response.Body.WriteAsync(buffer.AsMemory(0, size));
            }
        });
        app.MapGet("/chunks", async (HttpContext c, int count, int ms) =>
        {
            // A long streaming response: one line every ms milliseconds.
            for (var i = 0; i < count; i++)
            {
                await c.Response.WriteAsync($"chunk {i}\n");
                await c.Response.Body.FlushAsync();
                await Task.Delay(ms);
            }
        });
    }

    public async ValueTask DisposeAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        await _app.StopAsync(cts.Token);
        await _app.DisposeAsync();
    }
}
