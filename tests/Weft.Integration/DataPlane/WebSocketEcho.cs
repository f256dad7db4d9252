using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using System.Net.WebSockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Weft.Integration.DataPlane;

/// <summary>
/// The test app's WebSocket endpoint, <c>/ws?id=...&amp;tickMs=...</c>: every whole message comes back
/// as one message of the same type, byte for byte, and every tickMs the app speaks first with
/// "tick N". What each session saw (messages, bytes, the client's close status) is kept by id for the
/// test to check from the app's side.
/// </summary>
public sealed class WebSocketEcho
{
    /// <summary>What the app saw of one WebSocket, filled in as it runs; <see cref="Closed"/> completes once the close is recorded.</summary>
    public sealed class Session
    {
        public int MessagesReceived;
        public long BytesReceived;
        public int TicksSent;
        public WebSocketCloseStatus? CloseStatus { get; set; }
        public string? CloseDescription { get; set; }
        public string? Failure { get; set; }
        public TaskCompletionSource Closed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>Ticks start with this; echoed client messages never do.</summary>
    public const string TickPrefix = "tick ";

    private const int MaxMessageBytes = 4 * 1024 * 1024;
    private readonly ConcurrentDictionary<string, Session> _sessions = new(StringComparer.Ordinal);

    public Session For(string id) => _sessions.GetOrAdd(id, static _ => new Session());

    public void Map(WebApplication app)
    {
        // No keep-alive pings from the app: only the test's messages keep the connection busy.
        app.UseWebSockets(new WebSocketOptions { KeepAliveInterval = TimeSpan.Zero });
        app.Map("/ws", async (HttpContext c) =>
        {
            if (!c.WebSockets.IsWebSocketRequest)
            {
                c.Response.StatusCode = StatusCodes.Status400BadRequest;
                return;
            }
            var session = For(c.Request.Query["id"].ToString());
            var tick = TimeSpan.FromMilliseconds(int.Parse(c.Request.Query["tickMs"].ToString(), CultureInfo.InvariantCulture));
            using var socket = await c.WebSockets.AcceptWebSocketAsync();
            try
            {
                await ServeAsync(socket, session, tick);
            }
            catch (Exception ex) when (ex is WebSocketException or IOException or OperationCanceledException)
            {
                session.Failure = ex.GetType().Name + ": " + ex.Message;
            }
            finally
            {
                session.Closed.TrySetResult();
            }
        });
    }

    private static async Task ServeAsync(WebSocket socket, Session session, TimeSpan tick)
    {
        // One send at a time: echoes and ticks share the socket.
        using var sending = new SemaphoreSlim(1, 1);
        using var stopTicks = new CancellationTokenSource();
        var ticks = TickAsync(socket, session, tick, sending, stopTicks.Token);
        try
        {
            await EchoUntilCloseAsync(socket, session, sending);
        }
        finally
        {
            await stopTicks.CancelAsync();
            await ticks;
        }
        session.CloseStatus = socket.CloseStatus;
        session.CloseDescription = socket.CloseStatusDescription;
        await socket.CloseOutputAsync(socket.CloseStatus ?? WebSocketCloseStatus.NormalClosure, socket.CloseStatusDescription, CancellationToken.None);
    }

    private static async Task EchoUntilCloseAsync(WebSocket socket, Session session, SemaphoreSlim sending)
    {
        var message = new ArrayBufferWriter<byte>();
        while (true)
        {
            var result = await socket.ReceiveAsync(message.GetMemory(64 * 1024), CancellationToken.None);
            if (result.MessageType == WebSocketMessageType.Close)
                return;
            message.Advance(result.Count);
            if (message.WrittenCount > MaxMessageBytes)
                throw new WebSocketException("message over " + MaxMessageBytes + " bytes");
            if (!result.EndOfMessage)
                continue;
            Interlocked.Increment(ref session.MessagesReceived);
            Interlocked.Add(ref session.BytesReceived, message.WrittenCount);
            await sending.WaitAsync();
            try
            {
                await socket.SendAsync(message.WrittenMemory, result.MessageType, endOfMessage: true, CancellationToken.None);
            }
            finally
            {
                sending.Release();
            }
            message.ResetWrittenCount();
        }
    }

    private static async Task TickAsync(WebSocket socket, Session session, TimeSpan every, SemaphoreSlim sending, CancellationToken stop)
    {
        using var timer = new PeriodicTimer(every);
        try
        {
            while (await timer.WaitForNextTickAsync(stop))
            {
                await sending.WaitAsync(stop);
                try
                {
                    var text = Encoding.UTF8.GetBytes(TickPrefix + session.TicksSent.ToString(CultureInfo.InvariantCulture));
                    await socket.SendAsync(text, WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);
                    Interlocked.Increment(ref session.TicksSent);
                }
                finally
                {
                    sending.Release();
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // The client closed (or the echo failed): no tick after that.
        }
        catch (Exception ex) when (ex is WebSocketException or IOException)
        {
            session.Failure ??= "tick: " + ex.Message;
        }
    }
}
