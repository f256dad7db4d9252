namespace Weft.Proxy.Upstream;

/// <summary>
/// The HTTP/1.1 connections of one endpoint: idle ones last in first out (the warmest socket first),
/// the count of all that are open (busy, idle or connecting) against the per-endpoint limit, and the
/// requests waiting for one when the endpoint is at its limit, first come first served. A lock over
/// small collections: no allocation per take or return; waiting allocates, but only past the limit.
/// </summary>
internal sealed class EndpointPool(string host, int port, Security.Mtls.ExpectedPeer? mtls = null)
{
    /// <summary>Who the endpoint must prove to be over mTLS; null: plaintext.</summary>
    public Security.Mtls.ExpectedPeer? Mtls { get; } = mtls;

    private readonly Lock _lock = new();
    private readonly List<UpstreamConnection> _idle = [];      // the end is the top: the most recently returned
    private PoolWaiter? _first;                                 // the waiting list: a waiter that gives up leaves it at once
    private PoolWaiter? _last;
    private int _waiting;
    private int _open;
    private bool _dropped;

    public string Host { get; } = host;
    public int Port { get; } = port;

    /// <summary>Connections open now, busy and idle (for tests and /clusters).</summary>
    public int Open
    {
        get { lock (_lock) return _open; }
    }

    public int Idle
    {
        get { lock (_lock) return _idle.Count; }
    }

    /// <summary>Requests waiting for a connection now.</summary>
    public int Waiting
    {
        get { lock (_lock) return _waiting; }
    }

    /// <summary>The warmest idle connection that is still fit to use, or null. Stale ones are handed back for closing.</summary>
    public UpstreamConnection? TryTakeIdle(long now, long maxIdleTicks, List<UpstreamConnection> stale)
    {
        while (true)
        {
            UpstreamConnection connection;
            lock (_lock)
            {
                if (_idle.Count == 0)
                    return null;
                connection = _idle[^1];
                _idle.RemoveAt(_idle.Count - 1);
            }
            if (now - connection.IdleSince <= maxIdleTicks && IsQuiet(connection))
            {
                connection.Reused = true;
                return connection;
            }
            stale.Add(connection);
        }
    }

    /// <summary>
    /// An idle connection must have nothing to read: bytes (a response nobody asked for) or the end
    /// (the upstream closed it) mean it is never used again.
    /// </summary>
    private static bool IsQuiet(UpstreamConnection connection)
    {
        if (!connection.Input.TryRead(out var result))
            return true;
        var quiet = result.Buffer.IsEmpty && !result.IsCompleted && !result.IsCanceled;
        connection.Input.AdvanceTo(result.Buffer.Start);
        return quiet;
    }

    /// <summary>Counts a connection about to be opened; false when the endpoint is at <paramref name="maxOpen"/>.</summary>
    public bool TryReserve(int maxOpen)
    {
        lock (_lock)
        {
            if (_open >= maxOpen)
                return false;
            _open++;
            return true;
        }
    }

    /// <summary>
    /// A place in the waiting list for a connection (a returned one, or the right to open one) when the
    /// endpoint is at its limit, until <paramref name="deadline"/> (0: none); null when
    /// <paramref name="maxWaiting"/> requests already wait.
    /// </summary>
    public PoolWaiter? Wait(int maxWaiting, long deadline)
    {
        lock (_lock)
        {
            if (_waiting >= maxWaiting)
                return null;
            var waiter = new PoolWaiter(this, deadline);
            if (_dropped)
            {
                // A request of an older config, its endpoint gone: nobody sweeps this list any more, so
                // it opens its own connection (closed after its exchange), as Drop lets waiters do.
                _open++;
                waiter.End(WaitEnd.Place, null);
                return waiter;
            }
            Append(waiter);
            return waiter;
        }
    }

    /// <summary>Ends a wait with <paramref name="end"/> unless it ended already (a connection or a place came first).</summary>
    public void Cancel(PoolWaiter waiter, WaitEnd end)
    {
        lock (_lock)
        {
            if (!waiter.Listed)
                return;
            Unlink(waiter);
            waiter.End(end, null);
        }
    }

    /// <summary>A connection done with its exchange: to the first waiting request, else idle. False: close it (the pool was dropped, or it is not fit to hand over).</summary>
    public bool Return(UpstreamConnection connection, long now)
    {
        connection.IdleSince = now;
        lock (_lock)
        {
            if (_dropped)
                return false;
            if (_first is { } waiter)
            {
                // What TryTakeIdle checks before reuse: bytes nobody asked for, the upstream's end, or a
                // cancel left by the last exchange. Such a connection is closed; its place goes on.
                if (!IsQuiet(connection))
                    return false;
                Unlink(waiter);
                connection.Reused = true;
                waiter.End(WaitEnd.Connection, connection);
                return true;
            }
            _idle.Add(connection);
            return true;
        }
    }

    /// <summary>A connection closed (or a reserved connect failed): its place goes to the first waiting request, if any.</summary>
    public void Closed()
    {
        lock (_lock)
        {
            if (_first is { } waiter)
            {
                Unlink(waiter);
                waiter.End(WaitEnd.Place, null);     // the place changes hands: the count stays
                return;
            }
            _open--;
        }
    }

    /// <summary>From the heartbeat: requests whose deadline passed while they waited stop waiting.</summary>
    public void ExpireWaiters(long now)
    {
        if (Volatile.Read(ref _waiting) == 0)
            return;
        lock (_lock)
        {
            for (var waiter = _first; waiter is not null;)
            {
                var next = waiter.Next;
                if (waiter.Deadline != 0 && now > waiter.Deadline)
                {
                    Unlink(waiter);
                    waiter.End(WaitEnd.TimedOut, null);
                }
                waiter = next;
            }
        }
    }

    private void Append(PoolWaiter waiter)
    {
        waiter.Previous = _last;
        waiter.Next = null;
        if (_last is null)
            _first = waiter;
        else
            _last.Next = waiter;
        _last = waiter;
        waiter.Listed = true;
        _waiting++;
    }

    private void Unlink(PoolWaiter waiter)
    {
        if (waiter.Previous is null)
            _first = waiter.Next;
        else
            waiter.Previous.Next = waiter.Next;
        if (waiter.Next is null)
            _last = waiter.Previous;
        else
            waiter.Next.Previous = waiter.Previous;
        waiter.Previous = waiter.Next = null;
        waiter.Listed = false;
        _waiting--;
    }

    /// <summary>Idle connections that waited longer than <paramref name="maxIdleTicks"/> (the oldest are at the bottom).</summary>
    public void TakeExpired(long now, long maxIdleTicks, List<UpstreamConnection> expired)
    {
        lock (_lock)
        {
            var count = 0;
            while (count < _idle.Count && now - _idle[count].IdleSince > maxIdleTicks)
                count++;
            if (count == 0)
                return;
            expired.AddRange(_idle.GetRange(0, count));
            _idle.RemoveRange(0, count);
        }
    }

    /// <summary>The endpoint left the config: its idle connections close now, busy ones when their exchange ends.</summary>
    public void Drop(List<UpstreamConnection> idle)
    {
        lock (_lock)
        {
            _dropped = true;
            idle.AddRange(_idle);
            _idle.Clear();
            // Each waiting request opens its own connection, closed after its exchange.
            while (_first is { } waiter)
            {
                Unlink(waiter);
                _open++;
                waiter.End(WaitEnd.Place, null);
            }
        }
    }
}
