namespace Weft.Tests.Fakes;

/// <summary>
/// Virtual time (Microsoft.Extensions.TimeProvider.Testing is not in the offline package cache): time moves
/// only in Advance, which fires due timers in order on the caller's thread.
/// </summary>
internal sealed class FakeTime : TimeProvider
{
    private readonly Lock _gate = new();
    private readonly List<Timer> _timers = [];
    private DateTimeOffset _now = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private TaskCompletionSource _armed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public override DateTimeOffset GetUtcNow() { lock (_gate) return _now; }
    public override long GetTimestamp() { lock (_gate) return _now.UtcTicks; }
    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    /// <summary>Timers armed and not yet fired.</summary>
    public int PendingTimers { get { lock (_gate) return _timers.Count(t => t.Due is not null); } }

    /// <summary>Completes the next time any timer is armed (e.g. the client starts its backoff delay).</summary>
    public Task NextTimerArmed() { lock (_gate) return _armed.Task; }

    /// <summary>The delay of the timer that fires next, if any.</summary>
    public TimeSpan? NextDue
    {
        get
        {
            lock (_gate)
            {
                var due = _timers.Where(t => t.Due is not null).Select(t => t.Due!.Value).DefaultIfEmpty(DateTimeOffset.MaxValue).Min();
                return due == DateTimeOffset.MaxValue ? null : due - _now;
            }
        }
    }

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new Timer(this, callback, state);
        lock (_gate) _timers.Add(timer);
        timer.Change(dueTime, period);
        return timer;
    }

    public void Advance(TimeSpan by)
    {
        DateTimeOffset target;
        lock (_gate) target = _now + by;
        while (true)
        {
            Timer? next = null;
            lock (_gate)
            {
                foreach (var t in _timers)
                {
                    if (t.Due is { } due && due <= target && (next is null || due < next.Due)) next = t;
                }
                if (next is null)
                {
                    _now = target;
                    return;
                }
                _now = next.Due!.Value;
                next.Due = next.Period is { } p ? _now + p : null;
            }
            next.Fire();
        }
    }

    private void Armed()
    {
        TaskCompletionSource armed;
        lock (_gate)
        {
            armed = _armed;
            _armed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        armed.TrySetResult();
    }

    private sealed class Timer(FakeTime owner, TimerCallback callback, object? state) : ITimer
    {
        public DateTimeOffset? Due { get; set; }
        public TimeSpan? Period { get; private set; }

        public void Fire() => callback(state);

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            lock (owner._gate)
            {
                Due = dueTime == Timeout.InfiniteTimeSpan ? null : owner._now + dueTime;
                Period = period == Timeout.InfiniteTimeSpan || period == TimeSpan.Zero ? null : period;
            }
            if (Due is not null) owner.Armed();
            return true;
        }

        public void Dispose() { lock (owner._gate) { Due = null; owner._timers.Remove(this); } }
        public ValueTask DisposeAsync() { Dispose(); return default; }
    }
}
