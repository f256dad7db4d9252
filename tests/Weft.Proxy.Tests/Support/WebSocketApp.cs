using System.Net;
using System.Net.WebSockets;
using System.Threading.Channels;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Weft.Proxy.Tests.Support;

/// <summary>
/// A real WebSocket app behind the proxy (Kestrel + the WebSocket middleware on 127.0.0.1:0). On each
/// WebSocket it says hello first, then echoes every frame, text or binary, until the client's close,
/// which it answers. How each WebSocket ended, as the app saw it, is kept for the test. Plain requests
/// get "ok"; any request for /refuse gets 403 with a body (so an upgrade there is answered without 101).
/// </summary>
public sealed class WebSocketApp : IAsyncDisposable
{
    public const string Hello = "hello from server";

    private readonly WebApplication _app;
    private readonly Channel<string> _ends = Channel.CreateUnbounded<string>();
    private WebSocketApp(WebApplication app) => _app = app;

    public int Port { get; private set; }

    public static async Task<WebSocketApp> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        var self = new WebSocketApp(app);
        app.UseWebSockets(new WebSocketOptions { KeepAliveInterval = TimeSpan.Zero });
        app.Run(self.HandleAsync);
        await app.StartAsync();
        self.Port = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()).Port;
        return self;
    }

    /// <summary>How the next WebSocket ended: "close NormalClosure done" after a clean close handshake (the client's status and description), else "failed: ...".</summary>
    public async Task<string> NextEndAsync(TimeSpan? timeout = null)
    {
        using var deadline = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        return await _ends.Reader.ReadAsync(deadline.Token);
    }

    private async Task HandleAsync(HttpContext ctx)
    {
        if (ctx.Request.Path.StartsWithSegments("/refuse"))
        {
            ctx.Response.StatusCode = StatusCodes.Status403Forbidden;
            ctx.Response.Headers["x-refused"] = "yes";
            ctx.Response.ContentLength = "no websocket here".Length;
            await ctx.Response.WriteAsync("no websocket here");
            return;
        }
        if (!ctx.WebSockets.IsWebSocketRequest)
        {
            ctx.Response.ContentLength = 2;
            await ctx.Response.WriteAsync("ok");
            return;
        }
        using var socket = await ctx.WebSockets.AcceptWebSocketAsync();
        try
        {
            await socket.SendAsync(System.Text.Encoding.UTF8.GetBytes(Hello), WebSocketMessageType.Text, true, default);
            var buffer = new byte[16 * 1024];
            while (true)
            {
                var result = await socket.ReceiveAsync(buffer, default);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", default);
                    _ends.Writer.TryWrite($"close {result.CloseStatus} {result.CloseStatusDescription}");
                    return;
                }
                await socket.SendAsync(buffer.AsMemory(0, result.Count), result.MessageType, result.EndOfMessage, default);
            }
        }
        catch (Exception ex)
        {
            _ends.Writer.TryWrite("failed: " + ex.Message);
        }
    }

    public async ValueTask DisposeAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        await _app.StopAsync(cts.Token);
        await _app.DisposeAsync();
    }
}
