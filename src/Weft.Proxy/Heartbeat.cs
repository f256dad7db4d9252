using System.Collections.Concurrent;

namespace Weft.Proxy;

/// <summary>Something the heartbeat checks: a connection's deadlines, a pool's idle connections.</summary>
internal interface IHeartbeatWatch
{
    /// <summary>On the heartbeat's timer thread; <paramref name="now"/> is a TimeProvider timestamp. Must not block.</summary>
    void OnHeartbeat(long now);
}

/// <summary>
/// One timer for every deadline of the data plane (Kestrel's heartbeat idea): connections keep their
/// deadlines in fields and the timer checks them, so no timer, token or registration is made per
/// request, and a slowloris costs one entry. Timeouts fire within one period of their deadline.
/// </summary>
internal sealed class Heartbeat : IDisposable
{
    public static readonly TimeSpan DefaultPeriod = TimeSpan.FromMilliseconds(250);

    private readonly ConcurrentDictionary<IHeartbeatWatch, byte> _watches = new();
    private readonly TimeProvider _time;
    private readonly ITimer _timer;

    public Heartbeat(TimeProvider time, TimeSpan? period = null)
    {
        _time = time;
        var p = period ?? DefaultPeriod;
        _timer = time.CreateTimer(static s => ((Heartbeat)s!).Tick(), this, p, p);
    }

    public TimeProvider Time => _time;

    public long Now => _time.GetTimestamp();

    public long Ticks(TimeSpan span) => span <= TimeSpan.Zero ? 0 : (long)(span.TotalSeconds * _time.TimestampFrequency);

    /// <summary>A deadline <paramref name="span"/> from now; 0 (none) for a zero span.</summary>
    public long DeadlineAfter(TimeSpan span) => span <= TimeSpan.Zero ? 0 : Now + Ticks(span);

    /// <summary>The time left until <paramref name="deadline"/> (a timestamp), never negative.</summary>
    public TimeSpan TimeLeft(long deadline) => _time.GetElapsedTime(Now, deadline) is var left && left > TimeSpan.Zero ? left : TimeSpan.Zero;

    public void Add(IHeartbeatWatch watch) => _watches.TryAdd(watch, 0);

    public void Remove(IHeartbeatWatch watch) => _watches.TryRemove(watch, out _);

    private void Tick()
    {
        var now = _time.GetTimestamp();
        foreach (var pair in _watches)
        {
            try
            {
                pair.Key.OnHeartbeat(now);
            }
            catch (Exception ex) when (ex is ObjectDisposedException or InvalidOperationException or IOException)
            {
                // A watch torn down meanwhile: its own code path notices.
            }
        }
    }

    public void Dispose() => _timer.Dispose();
}
