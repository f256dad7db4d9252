using System.Threading.Tasks.Sources;
using Weft.Proxy.Pipeline;

namespace Weft.Proxy.Codecs.Http2;

/// <summary>How waiting for a response head ended.</summary>
internal enum HeadOutcome
{
    Arrived,
    /// <summary>The peer reset the stream or the connection failed.</summary>
    Reset,
    /// <summary>The peer never processed it (REFUSED_STREAM, or above a GOAWAY's last stream): it may go again elsewhere.</summary>
    Refused,
    TimedOut,
    ClientAborted,
}

/// <summary>
/// One request stream of the client side: the request head (HEADERS, END_STREAM when there is no body),
/// then the response head awaited (1xx skipped), the response body as a <see cref="StreamInput"/>, and
/// trailers. Reused by its connection.
/// </summary>
internal sealed class Http2ClientStream : Http2Stream, IValueTaskSource<HeadOutcome>, IHeaderBlockTarget
{
    private readonly Http2ClientConnection _owner;
    private ManualResetValueTaskSourceCore<HeadOutcome> _head;
    private readonly FieldList _headFields = new();
    private readonly FieldList _trailerFields = new();
    private readonly Lock _gate = new();
    private bool _waiting;                  // the head is awaited
    private bool _headDone;
    private bool _inTrailers;
    private bool _malformed;
    private int _holds;
    private HeadOutcome _failedOutcome;

    public Http2ClientStream(Http2ClientConnection connection) : base(connection)
    {
        _owner = connection;
        _head.RunContinuationsAsynchronously = false;
    }

    public Http2ClientConnection Owner => _owner;

    /// <summary>The response head, once arrived.</summary>
    public ResponseHead Response { get; } = new();

    /// <summary>The trailers, once arrived (null when none).</summary>
    public FieldList? Trailers { get; private set; }

    public string GrpcStatus { get; private set; } = "";

    /// <summary>The response came with END_STREAM on its head: no body.</summary>
    public bool EndedWithHead { get; private set; }

    /// <summary>When the request's time for a head is up (heartbeat timestamp; 0: none).</summary>
    public long Deadline;

    public int Fields { get; private set; }

    /// <summary>Anything the exchange keeps with the stream (its response adapter), reused with it.</summary>
    public object? Exchange;

    /// <summary>Writes the request head on a reserved slot: the stream gets its id and enters the table.</summary>
    public void Send<T>(ref T head, bool endStream, long deadline) where T : struct, IHeaderBlock
    {
        _headFields.Clear();
        _trailerFields.Clear();
        Trailers = null;
        GrpcStatus = "";
        EndedWithHead = false;
        _headDone = _inTrailers = _malformed = false;
        Fields = 0;
        Deadline = deadline;
        _holds = 2;
        _head.Reset();
        lock (_gate)
            _waiting = true;
        lock (Connection.Output.Gate)
        {
            var id = _owner.NextStreamIdLocked();
            Open(id, Connection.LocalInitialWindow);
            _owner.Register(this);
            _owner.WaitingForHead(this, waiting: true);
            Connection.Output.WriteHeadersLocked(id, endStream, ref head);
        }
        if (endStream)
            MarkLocalEnded();
        Connection.Output.Flush();
    }

    /// <summary>The request had no body: our side is closed from the start.</summary>
    private void MarkLocalEnded() => Output.EndQuietly();

    public ValueTask<HeadOutcome> HeadAsync() => new(this, _head.Version);

    private void CompleteHead(HeadOutcome outcome)
    {
        lock (_gate)
        {
            if (!_waiting)
                return;
            _waiting = false;
        }
        _owner.WaitingForHead(this, waiting: false);
        if (outcome == HeadOutcome.Arrived)
        {
            _head.SetResult(outcome);
            return;
        }
        // A head that will not come is told from the thread pool, never inline: the waiter may send its
        // request again at once, and inline it would run inside the reset or close that ended this stream
        // (which still has to finish with it: take it out of the table, answer nothing to a refusal).
        _failedOutcome = outcome;
        ThreadPool.UnsafeQueueUserWorkItem(static s => s._head.SetResult(s._failedOutcome), this, preferLocal: false);
    }

    public void TimeOut()
    {
        lock (_gate)
        {
            if (!_waiting)
                return;
        }
        CompleteHead(HeadOutcome.TimedOut);
        Connection.ResetStream(this, Http2Error.Cancel);
    }

    /// <summary>The client of this request left while its head was awaited.</summary>
    public void ClientAborted()
    {
        CompleteHead(HeadOutcome.ClientAborted);
        Connection.ResetStream(this, Http2Error.Cancel);
    }

    /// <summary>The peer's GOAWAY did not cover it: it never reached an app.</summary>
    public void Refuse()
    {
        Output.Abort();
        Input.Fail(new IOException("the upstream did not process the stream (GOAWAY)"));
        CompleteHead(HeadOutcome.Refused);
        Connection.CloseStream(this);
    }

    public override void OnReset(Http2Error error, bool connectionLost)
    {
        var refused = error == Http2Error.RefusedStream || (!connectionLost && _owner.Unprocessed(Id));
        CompleteHead(refused ? HeadOutcome.Refused : HeadOutcome.Reset);
    }

    public void OnClosed()
    {
        // A stream closed before its head (both sides ended, e.g. a reset): whoever waits is told.
        CompleteHead(HeadOutcome.Reset);
        Release();
    }

    /// <summary>The exchange is done with it; with the protocol done too, the connection reuses it.</summary>
    public void Release()
    {
        if (Interlocked.Decrement(ref _holds) == 0)
            _owner.ReturnStream(this);
    }

    // ------------------------------------------------------------------ response header blocks

    public override IHeaderBlockTarget BeginHeaders(bool endStream)
    {
        Fields = 0;
        if (_headDone)
        {
            // Trailers: they must end the stream.
            if (!endStream)
                return DropAndReset();
            _inTrailers = true;
            _trailerFields.Clear();
        }
        else
        {
            _headFields.Clear();
            Response.Status = 0;
            Response.ContentLength = -1;
        }
        _malformed = false;
        return this;
    }

    private IHeaderBlockTarget DropAndReset()
    {
        _malformed = true;
        _inTrailers = true;
        return this;
    }

    public void OnField(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
    {
        Fields++;
        if (_malformed)
            return;
        if (_inTrailers)
        {
            if (name.IsEmpty || name[0] == (byte)':')
            {
                _malformed = true;
                return;
            }
            if (name.SequenceEqual("grpc-status"u8))
                GrpcStatus = System.Text.Encoding.ASCII.GetString(value);
            _trailerFields.Add(name, value);
            return;
        }
        if (!name.IsEmpty && name[0] == (byte)':')
        {
            if (Response.Status != 0 || !name.SequenceEqual(":status"u8) || value.Length != 3 || !TryStatus(value, out var status))
                _malformed = true;
            else
                Response.Status = status;
            return;
        }
        if (name.Length == 14 && name.SequenceEqual("content-length"u8))
        {
            if (RequestFields.TryParseLength(value, out var length))
                Response.ContentLength = length;
            return;
        }
        if (name.Length == 11 && name.SequenceEqual("grpc-status"u8))
            GrpcStatus = System.Text.Encoding.ASCII.GetString(value);
        _headFields.Add(name, value);
    }

    private static bool TryStatus(ReadOnlySpan<byte> value, out int status)
    {
        status = 0;
        foreach (var b in value)
        {
            if (b is < (byte)'0' or > (byte)'9')
                return false;
            status = status * 10 + (b - '0');
        }
        return status >= 100;
    }

    public void OnBlockEnd(bool endStream)
    {
        if (_malformed || (!_inTrailers && Response.Status == 0))
        {
            Connection.ResetStream(this, Http2Error.ProtocolError);
            CompleteHead(HeadOutcome.Reset);
            return;
        }
        if (_inTrailers)
        {
            _inTrailers = false;
            Trailers = _trailerFields;
            Input.Append([], end: true);
            OnRemoteEnded();
            return;
        }
        if (Response.Status is >= 100 and < 200)
            return;                                   // interim: the final head follows
        _headDone = true;
        Response.Headers = _headFields;
        EndedWithHead = endStream;
        if (endStream)
            Input.Append([], end: true);
        CompleteHead(HeadOutcome.Arrived);
        if (endStream)
            OnRemoteEnded();
    }

    public void Abandon()
    {
    }

    HeadOutcome IValueTaskSource<HeadOutcome>.GetResult(short token) => _head.GetResult(token);
    ValueTaskSourceStatus IValueTaskSource<HeadOutcome>.GetStatus(short token) => _head.GetStatus(token);
    void IValueTaskSource<HeadOutcome>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _head.OnCompleted(continuation, state, token, flags);
}
