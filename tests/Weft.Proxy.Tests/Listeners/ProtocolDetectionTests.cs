using System.IO.Pipelines;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Weft.Proxy.Listeners;

namespace Weft.Proxy.Tests.Listeners;

/// <summary>The detection window in virtual time: it ends exactly when the clock says, not before, and keeps every byte read.</summary>
public class ProtocolDetectionTests
{
    private static readonly TimeSpan Window = TimeSpan.FromMilliseconds(100);

    private static (DefaultConnectionContext Connection, PipeWriter Client) Connection()
    {
        var fromClient = new Pipe();
        var toClient = new Pipe();
        var connection = new DefaultConnectionContext("test",
            new DuplexPipe(fromClient.Reader, toClient.Writer), new DuplexPipe(toClient.Reader, fromClient.Writer));
        return (connection, fromClient.Writer);
    }

    [Fact]
    public async Task A_silent_client_is_tcp_exactly_when_the_window_ends()
    {
        var time = new ManualTime();
        var (connection, _) = Connection();
        var detecting = ProtocolDetection.DetectAsync(connection, Window, time).AsTask();

        time.Advance(Window - TimeSpan.FromMilliseconds(1));
        Assert.False(detecting.IsCompleted);
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal("Timeout", (await detecting.WaitAsync(TimeSpan.FromSeconds(10))).ToString());
    }

    [Fact]
    public async Task Bytes_read_before_the_window_ended_are_still_there_for_a_primed_read()
    {
        var time = new ManualTime();
        var (connection, client) = Connection();
        var detecting = ProtocolDetection.DetectAsync(connection, Window, time).AsTask();
        await client.WriteAsync(Encoding.ASCII.GetBytes("GET /half-a-request-line"));
        time.Advance(Window);
        Assert.Equal("Timeout", (await detecting.WaitAsync(TimeSpan.FromSeconds(10))).ToString());

        // What TcpForwarder does first: a cancelled read returns what is buffered without new bytes.
        var input = connection.Transport.Input;
        input.CancelPendingRead();
        var result = await input.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("GET /half-a-request-line", Encoding.ASCII.GetString(result.Buffer));
    }

    [Theory]
    [InlineData("GET / HTTP/1.1\r\nHost: a\r\n\r\n", "Http1")]
    [InlineData("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "Http2")]
    [InlineData("\u0016\u0003\u0001", "Tls")]
    [InlineData("SSH-2.0-OpenSSH_9.2\r\n", "Tcp")]
    public async Task A_client_that_speaks_is_decided_by_its_bytes_without_waiting(string first, string expected)
    {
        var time = new ManualTime();
        var (connection, client) = Connection();
        var detecting = ProtocolDetection.DetectAsync(connection, Window, time).AsTask();
        await client.WriteAsync(Encoding.Latin1.GetBytes(first));
        // No time passes: the bytes alone decide.
        Assert.Equal(expected, (await detecting.WaitAsync(TimeSpan.FromSeconds(10))).ToString());
        var result = await connection.Transport.Input.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(first, Encoding.Latin1.GetString(result.Buffer));
    }

    [Fact]
    public async Task A_client_that_finishes_sending_undecided_is_tcp()
    {
        var (connection, client) = Connection();
        var detecting = ProtocolDetection.DetectAsync(connection, Window, new ManualTime()).AsTask();
        await client.WriteAsync("GET"u8.ToArray());
        await client.CompleteAsync();
        Assert.Equal("Tcp", (await detecting.WaitAsync(TimeSpan.FromSeconds(10))).ToString());
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;
        public PipeWriter Output { get; } = output;
    }

    /// <summary>A clock that moves only when told; its timers fire inside Advance.</summary>
    private sealed class ManualTime : TimeProvider
    {
        private readonly List<ManualTimer> _timers = [];
        private TimeSpan _now;

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            var timer = new ManualTimer(this, callback, state);
            timer.Change(dueTime, period);
            lock (_timers) _timers.Add(timer);
            return timer;
        }

        public void Advance(TimeSpan by)
        {
            List<ManualTimer> due;
            lock (_timers)
            {
                _now += by;
                due = _timers.Where(t => t.Due is { } d && d <= _now).ToList();
                foreach (var t in due) t.Due = null;
            }
            foreach (var t in due) t.Fire();
        }

        private sealed class ManualTimer(ManualTime owner, TimerCallback callback, object? state) : ITimer
        {
            public TimeSpan? Due { get; set; }

            public bool Change(TimeSpan dueTime, TimeSpan period)
            {
                lock (owner._timers) Due = dueTime == Timeout.InfiniteTimeSpan ? null : owner._now + dueTime;
                return true;
            }

            public void Fire() => callback(state);

            public void Dispose()
            {
                lock (owner._timers) { Due = null; owner._timers.Remove(this); }
            }

            public ValueTask DisposeAsync()
            {
                Dispose();
                return ValueTask.CompletedTask;
            }
        }
    }
}
