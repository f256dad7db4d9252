namespace Weft.Proxy.Transport;

/// <summary>Something registered with an <see cref="EventLoop"/>: told its readiness edges on the loop's thread.</summary>
internal interface IEventHandler
{
    void OnEvents(uint events);
}

/// <summary>
/// One thread waiting on an edge-triggered epoll set and handing each socket its readiness. A socket
/// is registered once, for reading and writing; after that the loop only reports edges and the socket
/// does its own I/O when it wants it (<see cref="LoopSocket"/>): no speculative read that fails with
/// EAGAIN before every wait, and no thread-pool hop between the readiness and the code that reads.
/// </summary>
internal sealed class EventLoop : IDisposable
{
    private const ulong WakeData = ulong.MaxValue;

    private readonly int _epoll;
    private readonly int _wake;
    private readonly Thread _thread;
    private readonly Lock _slotsLock = new();
    private IEventHandler?[] _slots = new IEventHandler?[256];
    private uint[] _generations = new uint[256];
    private readonly Stack<int> _free = new();
    private int _nextSlot;
    private readonly bool _sendBatch;
    private readonly ManualResetEventSlim _started = new();   // the thread has set up (its SendBatch, if any)
    private bool _batching;
    private volatile bool _stopping;

    public EventLoop(string name, bool sendBatch = true)
    {
        _sendBatch = sendBatch;
        _epoll = Native.epoll_create1(Native.EPOLL_CLOEXEC);
        if (_epoll < 0)
            throw new IOException($"epoll_create1 failed: errno {Native.LastError}");
        _wake = Native.eventfd(0, Native.EFD_NONBLOCK | Native.EFD_CLOEXEC);
        if (_wake < 0)
            throw new IOException($"eventfd failed: errno {Native.LastError}");
        var ev = new Native.EpollEvent { Events = Native.EPOLLIN, Data = WakeData };
        Native.epoll_ctl(_epoll, Native.EPOLL_CTL_ADD, _wake, ref ev);
        _thread = new Thread(Run) { IsBackground = true, Name = name };
        _thread.Start();
        _started.Wait();
        _started.Dispose();
    }

    /// <summary>Whether this loop batches its sends (false where io_uring is missing or batching is off).</summary>
    public bool Batching => Volatile.Read(ref _batching);

    /// <summary>True on the loop's own thread.</summary>
    public bool IsLoopThread => Environment.CurrentManagedThreadId == _thread.ManagedThreadId;

    /// <summary>Adds a descriptor for edge-triggered read and write readiness; the token unregisters it.</summary>
    public ulong Register(nint fd, IEventHandler handler, uint events)
    {
        int slot;
        uint generation;
        lock (_slotsLock)
        {
            if (!_free.TryPop(out slot))
            {
                slot = _nextSlot++;
                if (slot == _slots.Length)
                {
                    Array.Resize(ref _slots, _slots.Length * 2);
                    Array.Resize(ref _generations, _generations.Length * 2);
                }
            }
            generation = unchecked(_generations[slot] + 1);
            Volatile.Write(ref _generations[slot], generation);
            Volatile.Write(ref _slots[slot], handler);
        }
        var token = ((ulong)generation << 32) | (uint)slot;
        var ev = new Native.EpollEvent { Events = events | Native.EPOLLET, Data = token };
        if (Native.epoll_ctl(_epoll, Native.EPOLL_CTL_ADD, (int)fd, ref ev) != 0)
        {
            var errno = Native.LastError;
            Unregister(token);
            throw new IOException($"epoll_ctl(ADD) failed: errno {errno}");
        }
        return token;
    }

    /// <summary>Stops delivering events to the token's handler (call before closing its descriptor; closing removes it from epoll).</summary>
    public void Unregister(ulong token)
    {
        var slot = (int)(uint)token;
        lock (_slotsLock)
        {
            if (_generations[slot] != (uint)(token >> 32) || _slots[slot] is null)
                return;
            Volatile.Write(ref _slots[slot], null);
            _free.Push(slot);
        }
    }

    private void Run()
    {
        var events = new Native.EpollEvent[256];
        // Created here: the ring admits one submitting thread, this one.
        SendBatch? created = null;
        try
        {
            created = _sendBatch ? SendBatch.TryCreate() : null;
            created?.MakeCurrent();
            Volatile.Write(ref _batching, created is not null);
        }
        finally
        {
            _started.Set();
        }
        using var batch = created;
        while (!_stopping)
        {
            var n = Native.epoll_wait(_epoll, events, events.Length, -1);
            if (n < 0)
            {
                if (Native.LastError == Native.EINTR)
                    continue;
                break;
            }
            for (var i = 0; i < n; i++)
            {
                var data = events[i].Data;
                if (data == WakeData)
                {
                    ulong drained = 0;
                    Native.read(_wake, ref drained, sizeof(ulong));
                    continue;
                }
                var handler = Lookup(data);
                if (handler is null)
                    continue;                                   // closed while its event was queued
                try
                {
                    handler.OnEvents(events[i].Events);
                }
                catch (Exception ex)
                {
                    // A handler must not take the loop (and every other connection on it) down.
                    Environment.FailFast("weft: event loop handler threw", ex);
                }
            }
            batch?.Submit();
        }
    }

    /// <summary>
    /// The handler an event's token names, without the lock (one per event was a measurable share of
    /// the loop's time). Register writes the generation before the handler, and the token only
    /// reaches epoll after both, so a handler read before a generation that matches is the token's
    /// own; a slot reused meanwhile has moved on to a newer generation and the event is dropped.
    /// A handler may still get one last event after it unregistered, as it could with the lock.
    /// </summary>
    private IEventHandler? Lookup(ulong data)
    {
        var slot = (int)(uint)data;
        var slots = Volatile.Read(ref _slots);
        var generations = Volatile.Read(ref _generations);
        if (slot >= slots.Length || slot >= generations.Length)
            return null;
        var handler = Volatile.Read(ref slots[slot]);
        return Volatile.Read(ref generations[slot]) == (uint)(data >> 32) ? handler : null;
    }

    public void Dispose()
    {
        _stopping = true;
        ulong one = 1;
        Native.write(_wake, ref one, sizeof(ulong));
        if (!IsLoopThread)
            _thread.Join(TimeSpan.FromSeconds(5));
        Native.close(_wake);
        Native.close(_epoll);
    }
}
