using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using System.Threading.Channels;
using Xunit.Abstractions;

namespace Weft.Integration.DataPlane;

/// <summary>
/// A WebSocket through two sidecars (client sidecar's outbound port -> server sidecar's inbound ->
/// the app's /ws), held open 30 s (as long as the HTTP/1 head timeout) with traffic both ways. That
/// neither HTTP/1 timeout applies to an upgraded connection, busy or quiet, is proven on virtual time
/// in Weft.Proxy.Tests (Http1/BehaviourTests).
/// </summary>
[Collection(DataPlaneCollection.Name)]
public sealed class WebSocketTests(DataPlaneMesh fixture, ITestOutputHelper log)
{
    private static readonly TimeSpan Hold = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Round = TimeSpan.FromSeconds(1.5);
    private static readonly TimeSpan Tick = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);
    private const WebSocketCloseStatus ClientClose = (WebSocketCloseStatus)4000;
    private const string ClientCloseReason = "client done";
    private TwoSidecars Mesh => fixture.Mesh;

    private sealed record Message(WebSocketMessageType Type, byte[] Data);

    [Fact]
    public async Task An_echo_held_open_30_s_crosses_both_sidecars_both_ways_in_order_and_closes_cleanly()
    {
        var outboundBefore = await Mesh.MetricsAsync(Mesh.Client);
        var inboundBefore = await Mesh.MetricsAsync(Mesh.Server("web"));
        var id = Guid.NewGuid().ToString("N");
        using var overall = new CancellationTokenSource(Hold + TimeSpan.FromSeconds(60));
        using var ws = new ClientWebSocket();
        // No keep-alive frames from the client either: what flows is what the test sends.
        ws.Options.KeepAliveInterval = TimeSpan.Zero;
        var url = new Uri($"ws://127.0.0.1:{Mesh.OutboundPort("web")}/ws?id={id}&tickMs={(int)Tick.TotalMilliseconds}");
        var held = Stopwatch.StartNew();
        await ws.ConnectAsync(url, overall.Token);

        var echoes = Channel.CreateUnbounded<Message>();
        var ticks = new List<string>();
        var receiving = ReceiveAsync(ws, echoes.Writer, ticks, overall.Token);

        // A round every 1.5 s until the hold is over: a burst of messages, then their echoes, in order.
        // The first burst carries a 1 MiB binary message. A slow round delays the next, never adds one.
        var sent = 0;
        long sentBytes = 0;
        long echoedBytes = 0;
        var rounds = 0;
        while (held.Elapsed < Hold)
        {
            List<Message> burst = [Text($"round {rounds} text"), Binary(rounds == 0 ? 1024 * 1024 : 100 + rounds * 37), Text(new string('w', rounds * 50))];
            foreach (var m in burst)
            {
                await ws.SendAsync(m.Data, m.Type, endOfMessage: true, overall.Token);
                sent++;
                sentBytes += m.Data.Length;
            }
            foreach (var m in burst)
            {
                using var wait = CancellationTokenSource.CreateLinkedTokenSource(overall.Token);
                wait.CancelAfter(Patience);
                var echo = await echoes.Reader.ReadAsync(wait.Token);
                Assert.Equal(m.Type, echo.Type);
                Assert.True(m.Data.AsSpan().SequenceEqual(echo.Data),
                    $"round {rounds}: the echo of a {m.Data.Length} B {m.Type} message differs ({echo.Data.Length} B back)");
                echoedBytes += echo.Data.Length;
            }
            rounds++;
            await WaitUntilAsync(held, Round * rounds < Hold ? Round * rounds : Hold, overall.Token);
        }

        await ws.CloseOutputAsync(ClientClose, ClientCloseReason, overall.Token);
        await receiving;                                 // ends at the app's close frame
        held.Stop();
        Assert.Equal(WebSocketState.Closed, ws.State);
        Assert.Equal(ClientClose, ws.CloseStatus);       // the app answered with the client's status
        Assert.False(echoes.Reader.TryRead(out _), "an echo arrived that the test did not send for");

        var session = fixture.App.WebSockets.For(id);
        await session.Closed.Task.WaitAsync(Patience);
        Assert.Null(session.Failure);
        Assert.Equal(ClientClose, session.CloseStatus);
        Assert.Equal(ClientCloseReason, session.CloseDescription);
        Assert.Equal(sent, session.MessagesReceived);
        Assert.Equal(sentBytes, session.BytesReceived);
        // Ticks the app sent first, received whole and in order; about one per Tick over the hold.
        Assert.Equal(session.TicksSent, ticks.Count);
        Assert.Equal(Enumerable.Range(0, ticks.Count).Select(i => WebSocketEcho.TickPrefix + i), ticks);
        Assert.True(ticks.Count >= (int)(Hold / Tick) - 2, $"only {ticks.Count} ticks in {held.Elapsed}");
        // A round every 3 s at worst (a loaded machine), every 1.5 s as planned.
        Assert.True(rounds >= (int)(Hold / Round) / 2, $"only {rounds} rounds in {held.Elapsed}");

        // Both sidecars carried it: each counts one 101 once its splice ends, lasting the whole hold.
        var (outbound, outboundHeld) = await UpgradesAsync(Mesh.Client, outboundBefore,
            "direction=\"outbound\",source_service=\"client\",[^}]*destination_service=\"web\"");
        var (inbound, inboundHeld) = await UpgradesAsync(Mesh.Server("web"), inboundBefore,
            "direction=\"inbound\",source_service=\"client\",[^}]*destination_service=\"web\"");

        log.WriteLine($"WebSocket through two sidecars held {held.Elapsed.TotalSeconds:0.0} s: client->app {sent} messages " +
            $"({sentBytes} B), app->client {sent} echoes ({echoedBytes} B) + {ticks.Count} ticks; close {(int)ClientClose} " +
            $"\"{ClientCloseReason}\" seen by the app; 101s counted outbound {outbound} ({outboundHeld:0.0} s), inbound {inbound} ({inboundHeld:0.0} s)");
        Assert.Equal(1, outbound);
        Assert.Equal(1, inbound);
        Assert.True(outboundHeld >= Hold.TotalSeconds - 1 && inboundHeld >= Hold.TotalSeconds - 1,
            $"the sidecars held the upgrade {outboundHeld:0.0} s and {inboundHeld:0.0} s, not the whole {Hold}");
    }

    /// <summary>Waits until the clock reads <paramref name="at"/> (Task.Delay may wake a little early).</summary>
    private static async Task WaitUntilAsync(Stopwatch clock, TimeSpan at, CancellationToken cancel)
    {
        TimeSpan left;
        while ((left = at - clock.Elapsed) > TimeSpan.Zero)
            await Task.Delay(left + TimeSpan.FromMilliseconds(1), cancel);
    }

    /// <summary>
    /// Every message until the app's close frame: ticks to their list, the rest (echoes) to the channel,
    /// which a failure completes so the sender sees it instead of waiting out its patience.
    /// </summary>
    private static async Task ReceiveAsync(ClientWebSocket ws, ChannelWriter<Message> echoes, List<string> ticks, CancellationToken cancel)
    {
        try
        {
            await ReceiveUntilCloseAsync(ws, echoes, ticks, cancel);
            echoes.Complete();
        }
        catch (Exception ex)
        {
            echoes.TryComplete(ex);
            throw;
        }
    }

    private static async Task ReceiveUntilCloseAsync(ClientWebSocket ws, ChannelWriter<Message> echoes, List<string> ticks, CancellationToken cancel)
    {
        var message = new ArrayBufferWriter<byte>();
        while (true)
        {
            var result = await ws.ReceiveAsync(message.GetMemory(64 * 1024), cancel);
            if (result.MessageType == WebSocketMessageType.Close)
                return;
            message.Advance(result.Count);
            if (!result.EndOfMessage)
                continue;
            var data = message.WrittenSpan.ToArray();
            message.ResetWrittenCount();
            var text = result.MessageType == WebSocketMessageType.Text ? Encoding.UTF8.GetString(data) : null;
            if (text is not null && text.StartsWith(WebSocketEcho.TickPrefix, StringComparison.Ordinal))
                ticks.Add(text);
            else
                await echoes.WriteAsync(new Message(result.MessageType, data), cancel);
        }
    }

    private static Message Text(string text) => new(WebSocketMessageType.Text, Encoding.UTF8.GetBytes(text));

    private static Message Binary(int size) => new(WebSocketMessageType.Binary, RandomNumberGenerator.GetBytes(size));

    /// <summary>
    /// New 101s the sidecar counted since <paramref name="before"/> for requests matching the labels,
    /// and the seconds they added to the 1xx duration sum. A proxy counts an upgrade when its splice
    /// ends, just after the client saw the close: waited for.
    /// </summary>
    private async Task<(long Count, double Seconds)> UpgradesAsync(TwoSidecars.Sidecar sidecar, string before, string labels)
    {
        var count = $"weft_requests_total\\{{{labels}[^}}]*response_code=\"101\"[^}}]*\\}} ([0-9]+)";
        var seconds = $"weft_request_duration_seconds_sum\\{{{labels}[^}}]*response_code=\"1xx\"[^}}]*\\}} ([0-9.eE+-]+)";
        var after = before;
        await Eventually.HoldsAsync(async () =>
        {
            after = await Mesh.MetricsAsync(sidecar);
            return Sum(after, count) > Sum(before, count);
        }, Patience, () => $"no new 101 counted by the sidecar:\n{after}");
        return ((long)(Sum(after, count) - Sum(before, count)), Sum(after, seconds) - Sum(before, seconds));
    }

    private static double Sum(string metrics, string pattern)
    {
        double sum = 0;
        foreach (Match m in Regex.Matches(metrics, pattern))
            sum += double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        return sum;
    }
}
