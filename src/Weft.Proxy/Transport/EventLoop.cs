namespace Weft.Proxy.Transport;

/// <summary>Something registered with an <see cref="EventLoop"/>: told its readiness edges on the loop's thread.</summary>
internal interface IEventHandler
{
    void OnEvents(uint events);

    /// <summary>
    /// <see cref="OnEvents"/> (or code it resumed inline) threw: end what this handler serves (a
    /// connection resets) so the loop can go on with every other socket. The loop has counted it.
    /// </summary>
    void OnFailed(Exception error);
}

/// <summary>
/// One thread waiting on an edge-triggered epoll set and handing each socket its readiness. A socket
/// is registered once, for reading and writing; after that the loop only reports edges and the socket
/// does its own I/O when it wants it (<see cref="LoopSocket"/>): no speculative read that fails with
/// EAGAIN before every wait, and no thread-pool hop between the readiness and the code that reads.
/// A handler that throws costs its own connection, never the loop (<see cref="IEventHandler.OnFailed"/>).
/// </summary>
internal sealed class EventLoop : IDisposable
{
    private const ulong WakeData = ulong.MaxValue;

    // The epoll set and the wake eventfd are closed by the loop's thread when it ends, and held (a
    // SafeHandle reference) by every call from another thread: a call racing with the end fails
    // instead of reaching whatever the kernel gave the number to next (another loop's epoll set).
    private readonly Descriptor _epoll;
    private readonly Descriptor _wake;
    private readonly Thread _thread;
    private readonly Lock _slotsLock = new();
    private IEventHandler?[] _slots = new IEventHandler?[256];
    private uint[] _generations = new uint[256];
    private readonly Stack<int> _free = new();
    private int _nextSlot;
    private readonly List<(long Due, IEventHandler Handler)> _retries = [];    // loop thread only
    private readonly bool _sendBatch;
    private readonly ManualResetEventSlim _started = new();   // the thread has set up (its SendBatch, if any)
    private bool _batching;
    private volatile bool _stopping;

    public EventLoop(string name, bool sendBatch = true)
    {
        _sendBatch = sendBatch;
        _epoll = Descriptor.Open(Native.epoll_create1(Native.EPOLL_CLOEXEC), "epoll_create1");
        try
        {
            _wake = Descriptor.Open(Native.eventfd(0, Native.EFD_NONBLOCK | Native.EFD_CLOEXEC), "eventfd");
            var ev = new Native.EpollEvent { Events = Native.EPOLLIN, Data = WakeData };
            if (Native.EpollAdd((int)_epoll.DangerousGetHandle(), _wake.DangerousGetHandle(), ref ev) is var errno and not 0)
            {
                _wake.Dispose();
                throw new IOException($"epoll_ctl(ADD) of the wake eventfd failed: errno {errno}");
            }
        }
        catch
        {
            _epoll.Dispose();
            throw;
        }
        _thread = new Thread(Run) { IsBackground = true, Name = name };
        // UnsafeStart: the loop must not run under whatever ExecutionContext its creator had (a config
        // apply inside a discovery call): every request's code resumes on this thread, and a captured
        // context would make each resume go through ExecutionContext.Run.
        _thread.UnsafeStart();
        _started.Wait();
        _started.Dispose();
    }

    /// <summary>Whether this loop batches its sends (false where io_uring is missing or batching is off).</summary>
    public bool Batching => Volatile.Read(ref _batching);

    /// <summary>True on the loop's own thread.</summary>
    public bool IsLoopThread => Environment.CurrentManagedThreadId == _thread.ManagedThreadId;

    /// <summary>
    /// Adds a descriptor for edge-triggered readiness; the token unregisters it. Returns 0, or the errno
    /// of epoll_ctl (ENOSPC: fs.epoll.max_user_watches reached; ENOMEM), counted: the caller closes
    /// the socket, the loop goes on.
    /// </summary>
    public int TryRegister(nint fd, IEventHandler handler, uint events, out ulong token)
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
        token = ((ulong)generation << 32) | (uint)slot;
        var ev = new Native.EpollEvent { Events = events | Native.EPOLLET, Data = token };
        var errno = Native.EBADF;
        if (_epoll.TryEnter(out var epoll))
        {
            try
            {
                errno = Native.EpollAdd((int)epoll, fd, ref ev);
            }
            finally
            {
                _epoll.DangerousRelease();
            }
        }
        if (errno != 0)
        {
            Unregister(token);
            token = 0;
            TransportCounters.RegisterFailed();
        }
        return errno;
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

    /// <summary>
    /// Loop thread only: calls the handler's OnEvents(EPOLLIN) again after <paramref name="milliseconds"/>,
    /// for a handler that could not act on its edge (an accept with no descriptor free) and, the edge
    /// being spent, would otherwise wait for the next one.
    /// </summary>
    public void RetryAfter(IEventHandler handler, int milliseconds)
    {
        foreach (var (_, waiting) in _retries)
        {
            if (ReferenceEquals(waiting, handler))
                return;
        }
        _retries.Add((Environment.TickCount64 + milliseconds, handler));
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
        // This thread closes both, after its last wait: it can use the numbers without holding them.
        var epoll = (int)_epoll.DangerousGetHandle();
        var wake = (int)_wake.DangerousGetHandle();
        try
        {
            while (!_stopping)
            {
                var n = Native.epoll_wait(epoll, events, events.Length, WaitTimeout());
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
                        Native.read(wake, ref drained, sizeof(ulong));
                        continue;
                    }
                    var handler = Lookup(data);
                    if (handler is not null)                        // null: closed while its event was queued
                        Dispatch(handler, events[i].Events);
                }
                if (_retries.Count > 0)
                    RunDueRetries();
                batch?.Submit();
            }
        }
        finally
        {
            _epoll.Dispose();
            _wake.Dispose();
        }
    }

    /// <summary>Runs a handler; if it throws, its connection ends (reset) and the loop goes on with the others.</summary>
    internal static void Dispatch(IEventHandler handler, uint events)
    {
        try
        {
            handler.OnEvents(events);
        }
        catch (Exception ex)
        {
            Fail(handler, ex);
        }
    }

    /// <summary>Counts a handler's failure and lets it end what it serves; nothing it throws meanwhile reaches the loop.</summary>
    internal static void Fail(IEventHandler handler, Exception error)
    {
        TransportCounters.HandlerFailed(error);
        try
        {
            handler.OnFailed(error);
        }
        catch (Exception)
        {
            // Even ending it failed: it is counted, and the loop must go on regardless.
        }
    }

    /// <summary>epoll_wait's timeout: none (-1) unless a retry is due.</summary>
    private int WaitTimeout()
    {
        if (_retries.Count == 0)
            return -1;
        var due = long.MaxValue;
        foreach (var (at, _) in _retries)
            due = Math.Min(due, at);
        return (int)Math.Clamp(due - Environment.TickCount64, 0, int.MaxValue);
    }

    private void RunDueRetries()
    {
        var now = Environment.TickCount64;
        for (var i = _retries.Count - 1; i >= 0; i--)
        {
            var (due, handler) = _retries[i];
            if (due > now)
                continue;
            _retries.RemoveAt(i);
            Dispatch(handler, Native.EPOLLIN);                  // may schedule itself again
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

    /// <summary>Stops the loop: its thread closes the epoll set when it leaves its last wait (at once, unless a handler holds it).</summary>
    public void Dispose()
    {
        _stopping = true;
        if (_wake.TryEnter(out var wake))
        {
            try
            {
                ulong one = 1;
                Native.write((int)wake, ref one, sizeof(ulong));
            }
            finally
            {
                _wake.DangerousRelease();
            }
        }
        if (!IsLoopThread)
            _thread.Join(TimeSpan.FromSeconds(5));
    }

    /// <summary>An epoll set or eventfd the loop owns: closed once, when the last call holding it is done.</summary>
    private sealed class Descriptor : System.Runtime.InteropServices.SafeHandle
    {
        private Descriptor(int fd) : base(-1, ownsHandle: true) => SetHandle(fd);

        public static Descriptor Open(int fd, string call) =>
            fd >= 0 ? new Descriptor(fd) : throw new IOException($"{call} failed: errno {Native.LastError}");

        public override bool IsInvalid => handle < 0;

        protected override bool ReleaseHandle() => Native.close((int)handle) == 0;

        public bool TryEnter(out nint fd)
        {
            var added = false;
            try
            {
                DangerousAddRef(ref added);
            }
            catch (ObjectDisposedException)
            {
                // Closed: the loop has ended.
            }
            fd = added ? handle : -1;
            return added;
        }
    }
}
