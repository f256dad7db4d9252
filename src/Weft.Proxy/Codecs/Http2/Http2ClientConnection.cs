using System.IO.Pipelines;

namespace Weft.Proxy.Codecs.Http2;

/// <summary>What a client connection tells the pool that owns it.</summary>
internal interface IHttp2ClientPool
{
    /// <summary>A stream slot freed (or the peer raised its stream limit): a waiting request may go.</summary>
    void OnCapacity(Http2ClientConnection connection);

    /// <summary>The connection ended (or takes no new streams any more): it leaves the pool.</summary>
    void OnRetired(Http2ClientConnection connection);
}

/// <summary>
/// The client side of one h2c connection to an upstream endpoint: our preface and SETTINGS, then
/// streams the cluster client opens (odd ids, in order), the peer's frames read on the connection's
/// loop thread. A GOAWAY from the peer lets the streams it processed finish; those it did not are
/// failed as refused, so they may go again on another connection. Idle past the upstream idle
/// timeout, it closes (the heartbeat checks it).
/// </summary>
internal sealed class Http2ClientConnection : Http2Connection, IHeartbeatWatch
{
    private readonly IDuplexPipe _transport;
    private readonly Action _closeTransport;
    private readonly IHttp2ClientPool _pool;
    private readonly Heartbeat _heartbeat;
    private readonly long _idleTicks;
    private const int IdleSpareStreams = 32;
    private int _peakReserved;              // the most reserved at once since the last heartbeat (under _gate)

    private readonly Stack<Http2ClientStream> _spare = new();
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _gate = new();
    private int _nextStreamId = 1;
    private int _reserved;                   // streams opened or about to be
    private int _peerMaxStreams = 100;       // until the peer's SETTINGS say (RFC 9113 6.5.2 leaves it unlimited)
    private int _goAwayLastStreamId = int.MaxValue;
    private bool _retired;
    private bool _closed;
    private long _idleSince;
    private int _goAwaySent;
    private Task? _reading;

    public Http2ClientConnection(IDuplexPipe transport, Action closeTransport, IHttp2ClientPool pool, LocalSettings local, Heartbeat heartbeat, TimeSpan idleTimeout)
        : base(transport.Input, transport.Output, local)
    {
        _transport = transport;
        _closeTransport = closeTransport;
        _pool = pool;
        _heartbeat = heartbeat;
        _idleTicks = heartbeat.Ticks(idleTimeout);
        _idleSince = heartbeat.Now;
    }

    /// <summary>Takes no new stream (GOAWAY received, closed, idle-closed, or its pool retired it).</summary>
    public bool Retired
    {
        get
        {
            lock (_gate)
                return _retired;
        }
    }

    /// <summary>Streams opened or reserved now.</summary>
    public int Reserved
    {
        get
        {
            lock (_gate)
                return _reserved;
        }
    }

    /// <summary>
    /// Completes when the upstream's first SETTINGS are in force; fails when the connection ends first.
    /// Streams wait for it: until then the upstream's stream limit is unknown, and streams past it would
    /// be refused (RFC 9113 allows sending at once; a burst on a new connection then met refusals).
    /// </summary>
    public Task Ready => _ready.Task;

    protected override void OnSettingsApplied() => _ready.TrySetResult();

    /// <summary>Sends the preface and SETTINGS and starts reading.</summary>
    public void Start()
    {
        lock (Output.Gate)
        {
            Output.WriteRawLocked(Http2Protocol.Preface);
            WriteOpeningLocked();
        }
        Output.Flush();
        _heartbeat.Add(this);
        _reading = ReadAsync();
    }

    /// <summary>A stream slot on this connection, or false (full, or retired).</summary>
    public bool TryReserve()
    {
        lock (_gate)
        {
            if (_retired || _reserved >= _peerMaxStreams || _nextStreamId > int.MaxValue - 2)
                return false;
            _reserved++;
            if (_reserved > _peakReserved)
                _peakReserved = _reserved;
            return true;
        }
    }

    /// <summary>A reserved slot given back unused.</summary>
    public void Unreserve()
    {
        lock (_gate)
        {
            _reserved--;
            if (_reserved == 0)
                _idleSince = _heartbeat.Now;
        }
        _pool.OnCapacity(this);
    }

    public Http2ClientStream RentStream()
    {
        lock (_gate)
        {
            if (_spare.Count != 0)
                return _spare.Pop();
        }
        return new Http2ClientStream(this);
    }

    public void ReturnStream(Http2ClientStream stream)
    {
        // As many as the peer lets us have in flight: a busy connection allocates no stream per request.
        lock (_gate)
        {
            if (_spare.Count < Math.Max(IdleSpareStreams, _peerMaxStreams))
                _spare.Push(stream);
        }
    }

    /// <summary>Under the output's lock, when the stream's HEADERS are written: ids go out in increasing order.</summary>
    public int NextStreamIdLocked()
    {
        var id = _nextStreamId;
        _nextStreamId += 2;
        return id;
    }

    public void Register(Http2ClientStream stream) => AddStream(stream);

    /// <summary>Retires it from its pool: streams in flight finish, then it closes.</summary>
    public void Retire()
    {
        bool idle;
        lock (_gate)
        {
            if (_retired)
                return;
            _retired = true;
            idle = _reserved == 0;
        }
        _pool.OnRetired(this);
        if (idle)
            CloseGracefully();
    }

    private async Task ReadAsync()
    {
        Http2Error? error = null;
        try
        {
            while (true)
            {
                var result = await Input.ReadAsync().ConfigureAwait(false);
                error = ProcessRead(result);
                if (error is not null || result.IsCompleted || result.IsCanceled)
                    break;
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
        {
            // The upstream went away.
        }
        Close(error);
    }

    private void Close(Http2Error? error)
    {
        lock (_gate)
        {
            if (_closed)
                return;
            _closed = true;
            _retired = true;
        }
        _ready.TrySetException(new IOException("the HTTP/2 connection ended before the upstream's SETTINGS"));
        _heartbeat.Remove(this);
        _pool.OnRetired(this);
        lock (Output.Gate)
        {
            if (error is { } code)
                Output.WriteGoAwayLocked(0, code);
            Output.CloseWritesLocked();
        }
        Output.Flush();
        AbortAllStreams(Http2Error.Cancel);
        Output.Fail();
        _closeTransport();
    }

    /// <summary>No stream left: GOAWAY, then the connection ends (its reader sees the end).</summary>
    private void CloseGracefully()
    {
        // Once: the last stream's close and the GOAWAY that refused it may both get here.
        if (Interlocked.Exchange(ref _goAwaySent, 1) != 0)
            return;
        lock (Output.Gate)
            Output.WriteGoAwayLocked(0, Http2Error.NoError);
        Output.Flush();
        Input.CancelPendingRead();
    }

    public void OnHeartbeat(long now)
    {
        ResetFloodCount();
        bool close;
        lock (_gate)
        {
            close = !_closed && _reserved == 0 && (_retired || (_idleTicks > 0 && now - _idleSince > _idleTicks));
            // Spare streams for as many requests as were in flight since the last beat (a few when idle),
            // not the busiest moment's ever. Not "trim when nothing is in flight": a busy connection
            // between two bursts has nothing in flight for a moment, and refilled its pool by allocating.
            var keep = Math.Max(IdleSpareStreams, _peakReserved);
            _peakReserved = _reserved;
            while (_spare.Count > keep)
                _spare.Pop();
        }
        if (close)
        {
            lock (_gate)
                _retired = true;
            _pool.OnRetired(this);
            CloseGracefully();
            return;
        }
        CheckDeadlines(now);
    }

    private readonly List<Http2ClientStream> _deadlines = [];

    /// <summary>Streams waiting for a response head past their request's deadline time out.</summary>
    private void CheckDeadlines(long now)
    {
        lock (_gate)
        {
            foreach (var stream in _waiting)
            {
                if (stream.Deadline != 0 && now > stream.Deadline)
                    _deadlines.Add(stream);
            }
        }
        foreach (var stream in _deadlines)
            stream.TimeOut();
        _deadlines.Clear();
    }

    private readonly HashSet<Http2ClientStream> _waiting = [];

    public void WaitingForHead(Http2ClientStream stream, bool waiting)
    {
        lock (_gate)
        {
            if (waiting)
                _waiting.Add(stream);
            else
                _waiting.Remove(stream);
        }
    }

    // ------------------------------------------------------------------ the protocol's side

    protected override bool IsPeerStreamId(int streamId) => (streamId & 1) == 0;

    protected override bool LocalStreamIdle(int streamId)
    {
        lock (Output.Gate)
            return streamId >= _nextStreamId;
    }

    protected override IHeaderBlockTarget OpenStream(int streamId, bool endStream) =>
        throw new Http2ConnectionException(Http2Error.ProtocolError, "a stream opened by the server (push is disabled)");

    protected override void OnStreamClosed(Http2Stream stream, int open)
    {
        lock (_gate)
        {
            _reserved--;
            if (_reserved == 0)
                _idleSince = _heartbeat.Now;
        }
        ((Http2ClientStream)stream).OnClosed();
        if (Retired)
        {
            if (open == 0)
                CloseGracefully();
            return;
        }
        _pool.OnCapacity(this);
    }

    protected override void OnPeerMaxConcurrentStreams(uint value)
    {
        lock (_gate)
            _peerMaxStreams = (int)Math.Min(value, 10_000);
        _pool.OnCapacity(this);
    }

    protected override void OnGoAway(int lastStreamId, Http2Error error)
    {
        lock (_gate)
        {
            _retired = true;
            _goAwayLastStreamId = lastStreamId;
        }
        _pool.OnRetired(this);
        // Streams the server never processed go again elsewhere (nothing reached an app).
        foreach (var stream in StreamsAbove(lastStreamId))
            stream.Refuse();
        if (OpenStreams == 0)
            CloseGracefully();
    }

    /// <summary>Whether the peer said (by GOAWAY) it never processed this stream.</summary>
    public bool Unprocessed(int streamId)
    {
        lock (_gate)
            return streamId > _goAwayLastStreamId;
    }

    private List<Http2ClientStream> StreamsAbove(int lastStreamId)
    {
        var list = new List<Http2ClientStream>();
        lock (_gate)
        {
            foreach (var stream in _waiting)
            {
                if (stream.Id > lastStreamId)
                    list.Add(stream);
            }
        }
        return list;
    }

    /// <summary>Waits for the reader to end (for tests and disposal).</summary>
    public Task Reading => _reading ?? Task.CompletedTask;

    public IDuplexPipe Transport => _transport;
}
