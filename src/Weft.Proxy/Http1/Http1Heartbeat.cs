using System.Collections.Concurrent;

namespace Weft.Proxy.Http1;

/// <summary>
/// One timer for every lean HTTP/1 connection (Kestrel's heartbeat idea): each connection keeps a
/// deadline in a field, the timer checks them. No timer, token or registration per request; a
/// slowloris costs one dictionary entry, and it never blocks anyone else (all reads are async).
/// </summary>
internal sealed class Http1Heartbeat : IDisposable
{
    private readonly ConcurrentDictionary<Http1Connection, byte> _connections = new();
    private readonly TimeProvider _time;
    private readonly ITimer _timer;

    public Http1Heartbeat(TimeProvider time, TimeSpan period)
    {
        _time = time;
        _timer = time.CreateTimer(static s => ((Http1Heartbeat)s!).Tick(), this, period, period);
    }

    public long Now => _time.GetTimestamp();

    public long Ticks(TimeSpan span) => (long)(span.TotalSeconds * _time.TimestampFrequency);

    public void Add(Http1Connection connection) => _connections.TryAdd(connection, 0);

    public void Remove(Http1Connection connection) => _connections.TryRemove(connection, out _);

    private void Tick()
    {
        var now = _time.GetTimestamp();
        foreach (var pair in _connections)
            pair.Key.CheckDeadline(now);
    }

    public void Dispose() => _timer.Dispose();
}
