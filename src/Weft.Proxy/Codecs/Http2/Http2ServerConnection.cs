using System.Buffers;
using System.Diagnostics;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Weft.Proxy.Codecs.Kestrel;
using Weft.Proxy.Listeners;
using Weft.Proxy.Pipeline;

namespace Weft.Proxy.Codecs.Http2;

/// <summary>
/// The server side of one h2c connection: the client's preface, our SETTINGS, then frames until the
/// client leaves, a connection error (GOAWAY with its code), a timeout (idle, or a header block that
/// does not end), or a graceful close (GOAWAY, the streams in flight finish, then the connection ends).
/// Streams beyond SETTINGS_MAX_CONCURRENT_STREAMS are refused (REFUSED_STREAM) and never reach the
/// pipeline; streams whose pipeline has not finished are bounded too (a client that resets what it
/// opens cannot pile up work: ENHANCE_YOUR_CALM, then the rapid-reset guard's GOAWAY).
/// </summary>
internal sealed class Http2ServerConnection : Http2Connection, IHeartbeatWatch
{
    private readonly ConnectionContext _connection;
    private const int IdlePoolStreams = 16;

    private readonly Stack<Http2ServerStream> _pool = new();
    private readonly Lock _poolGate = new();
    private Http2ResetGuard.Budget? _budget;
    private long _idleDeadline;
    private long _headersDeadline;
    private volatile int _timedOut;          // 1 idle, 2 headers
    private volatile bool _closeRequested;
    private bool _goAwaySent;
    private volatile bool _ended;
    private int _running;                    // streams whose pipeline has not finished
    private int _peakOpen;                   // the most streams open at once since the last heartbeat

    private readonly RequestTargetCache _target = new();

    public Http2ServerConnection(Http2Codec codec, ConnectionContext connection, ListenerBinding binding)
        : base(connection.Transport.Input, connection.Transport.Output, codec.Settings)
    {
        Codec = codec;
        _connection = connection;
        Binding = binding;
    }

    public Http2Codec Codec { get; }

    public ListenerBinding Binding { get; }

    public new LocalSettings Local => base.Local;

    public async Task RunAsync()
    {
        _budget = _connection.Features.Get<Http2ResetGuard.Budget>();
        var lifetime = _connection.Features.Get<IConnectionLifetimeNotificationFeature>();
        var registration = lifetime is null
            ? default
            : lifetime.ConnectionClosedRequested.UnsafeRegister(static s => ((Http2ServerConnection)s!).OnCloseRequested(), this);
        SetIdleDeadline();
        Codec.Heartbeat.Add(this);
        Http2Error? error = null;
        try
        {
            if (await ReadPrefaceAsync().ConfigureAwait(false))
            {
                lock (Output.Gate)
                    WriteOpeningLocked();
                Output.Flush();
                error = await ReadFramesAsync().ConfigureAwait(false);
            }
            else
            {
                error = _timedOut != 0 ? null : Http2Error.ProtocolError;
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
        {
            // The client went away.
        }
        finally
        {
            Codec.Heartbeat.Remove(this);
            registration.Dispose();
        }
        Close(error);
    }

    private async ValueTask<bool> ReadPrefaceAsync()
    {
        while (true)
        {
            var result = await Input.ReadAsync().ConfigureAwait(false);
            var buffer = result.Buffer;
            if (buffer.Length >= Http2Protocol.PrefaceLength)
            {
                Span<byte> preface = stackalloc byte[Http2Protocol.PrefaceLength];
                buffer.Slice(0, Http2Protocol.PrefaceLength).CopyTo(preface);
                Input.AdvanceTo(buffer.GetPosition(Http2Protocol.PrefaceLength));
                return preface.SequenceEqual(Http2Protocol.Preface);
            }
            Input.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted || result.IsCanceled)
                return false;
        }
    }

    /// <summary>Frames until the end; the connection error to send, if any.</summary>
    private async ValueTask<Http2Error?> ReadFramesAsync()
    {
        while (true)
        {
            var result = await Input.ReadAsync().ConfigureAwait(false);
            if (ProcessRead(result) is { } error)
                return error;
            if (result.IsCompleted)
                return null;
            if (_timedOut != 0)
                return _timedOut == 2 ? Http2Error.InternalError : Http2Error.NoError;
            if (_closeRequested && !_goAwaySent)
                SendGoAway(Http2Error.NoError);
            // A reset flood is not drained: what the attacker left in flight is reset with the connection.
            if (_goAwaySent && _budget is { Closing: true })
                return null;
            if (_goAwaySent && OpenStreams == 0 && Volatile.Read(ref _running) == 0)
                return null;
        }
    }

    private void OnCloseRequested()
    {
        _closeRequested = true;
        Input.CancelPendingRead();
    }

    /// <summary>GOAWAY: no stream above the last one opened will be processed.</summary>
    private void SendGoAway(Http2Error error)
    {
        _goAwaySent = true;
        lock (Output.Gate)
            Output.WriteGoAwayLocked(HighestStreamId, error);
        Output.Flush();
    }

    private void Close(Http2Error? error)
    {
        _ended = true;
        lock (Output.Gate)
        {
            if (error is { } code && (!_goAwaySent || code != Http2Error.NoError))
                Output.WriteGoAwayLocked(HighestStreamId, code);
            // Nothing after the GOAWAY: streams still ending (a reset of their own) write no more.
            Output.CloseWritesLocked();
        }
        Output.Flush();
        AbortAllStreams(error ?? Http2Error.Cancel);
        Output.Fail();
        try
        {
            _connection.Transport.Output.Complete();
            _connection.Transport.Input.Complete();
        }
        catch (Exception ex) when (ex is InvalidOperationException or IOException or ObjectDisposedException)
        {
            // Already closed.
        }
    }

    // ------------------------------------------------------------------ timeouts

    public void OnHeartbeat(long now)
    {
        ResetFloodCount();
        // Streams for as many requests as were open since the last beat (a few when idle), not the
        // busiest moment's ever. Not "trim when none is open": a busy connection between two bursts
        // has none open for a moment, and refilled its pool by allocating.
        var keep = Math.Max(IdlePoolStreams, Volatile.Read(ref _peakOpen));
        Volatile.Write(ref _peakOpen, OpenStreams);
        if (_pool.Count > keep)
            TrimPool(keep);
        if (Volatile.Read(ref Output.BlockedStreams) > 0)
            CheckSlowReaders(now);
        var headers = Volatile.Read(ref _headersDeadline);
        if (headers != 0 && now > headers)
        {
            _timedOut = 2;
            Input.CancelPendingRead();
            return;
        }
        var idle = Volatile.Read(ref _idleDeadline);
        if (idle != 0 && now > idle && OpenStreams == 0)
        {
            _timedOut = 1;
            Input.CancelPendingRead();
        }
    }

    /// <summary>
    /// A client that never opens its window for an answer holds the stream (and its upstream) for nothing:
    /// blocked with no credit at all for the HTTP idle timeout, the stream is reset. A reader that pauses
    /// and resumes within it keeps its stream (flow control is its right); gRPC calls are exempt, as
    /// from every HTTP timeout: a call may rightly stay quiet for long.
    /// </summary>
    private void CheckSlowReaders(long now)
    {
        var limits = Codec.State.Current.Limits;
        var grace = Codec.Heartbeat.Ticks(limits.HttpIdleTimeout);
        if (grace <= 0)
            return;
        foreach (var stream in SnapshotStreams())
        {
            var output = stream.Output;
            if (!output.Blocked || ((Http2ServerStream)stream).IsGrpc)
            {
                output.BlockedSince = 0;
                continue;
            }
            if (output.BlockedSince == 0)
                output.BlockedSince = now;
            else if (now - output.BlockedSince > grace)
                ResetStream(stream, Http2Error.Cancel);
        }
    }

    private void SetIdleDeadline() => Volatile.Write(ref _idleDeadline, Codec.Heartbeat.DeadlineAfter(Codec.State.Current.Limits.HttpIdleTimeout));

    protected override void OnBlockStarted() =>
        Volatile.Write(ref _headersDeadline, Codec.Heartbeat.DeadlineAfter(Codec.State.Current.Limits.RequestHeadersTimeout));

    protected override void OnBlockEnded() => Volatile.Write(ref _headersDeadline, 0);

    // ------------------------------------------------------------------ streams

    protected override bool IsPeerStreamId(int streamId) => (streamId & 1) == 1;

    protected override bool LocalStreamIdle(int streamId) => true;      // a server opens none (no push)

    protected override IHeaderBlockTarget OpenStream(int streamId, bool endStream)
    {
        if (_goAwaySent)
            return Drop(streamId, Http2Error.RefusedStream);
        if (OpenStreams >= Local.MaxConcurrentStreams)
            return Drop(streamId, Http2Error.RefusedStream);
        // Streams reset by the client leave the table at once but their work may still run: bounded too.
        // A client cannot have that many in flight without resetting streams faster than their work ends.
        if (Volatile.Read(ref _running) >= 2 * Local.MaxConcurrentStreams)
            throw new Http2ConnectionException(Http2Error.EnhanceYourCalm, "reset streams pile up unfinished");
        Http2ServerStream? stream = null;
        lock (_poolGate)
        {
            if (_pool.Count != 0)
                stream = _pool.Pop();
        }
        stream ??= new Http2ServerStream(this);
        stream.Begin(streamId, Local.InitialWindow);
        return stream;
    }

    /// <summary>The head was good: the stream enters the table and its pipeline runs.</summary>
    public void Admit(Http2ServerStream stream)
    {
        Volatile.Write(ref _idleDeadline, 0);
        Interlocked.Increment(ref _running);
        AddStream(stream);
        if (OpenStreams > _peakOpen)
            _peakOpen = OpenStreams;           // the read loop's only: the heartbeat reads and restarts it
    }

    /// <summary>A malformed request (a stream error): RST_STREAM with the code; it never reached the pipeline.</summary>
    public void Refuse(Http2ServerStream stream, Http2Error error)
    {
        RememberReset(stream.Id);
        lock (Output.Gate)
            Output.WriteRstStreamLocked(stream.Id, error);
        Output.Flush();
        Release(stream, pipeline: true, protocol: true);
    }

    /// <summary>A head over a limit: 431, and the rest of the request (if any) is refused.</summary>
    public void RefuseTooLarge(Http2ServerStream stream, bool endStream)
    {
        var block = new HeaderBlocks.LocalReply(431, "headers_too_large", 0);
        lock (Output.Gate)
        {
            Output.WriteHeadersLocked(stream.Id, endStream: true, ref block);
            if (!endStream)
                Output.WriteRstStreamLocked(stream.Id, Http2Error.NoError);
        }
        Output.Flush();
        RememberReset(stream.Id);
        Release(stream, pipeline: true, protocol: true);
    }

    public IHeaderBlockTarget DropAndReset(int streamId, Http2Error error) => Drop(streamId, error);

    protected override void OnStreamClosed(Http2Stream stream, int open)
    {
        if (open == 0)
        {
            SetIdleDeadline();
            if (_goAwaySent)
                Input.CancelPendingRead();
        }
        Release((Http2ServerStream)stream, pipeline: false, protocol: true);
    }

    /// <summary>The pipeline finished a stream: the reset budget counts a premature reset.</summary>
    public void OnServed(Http2ServerStream stream, RequestContext ctx)
    {
        // Work that ends after the connection did is no flood of this connection's (and its context is gone).
        if (!_ended)
            _budget?.OnStreamEnded(ctx.Flag == ResponseFlag.ClientAborted && Stopwatch.GetTimestamp() - ctx.Started < Stopwatch.Frequency);
        if (Interlocked.Decrement(ref _running) == 0 && _goAwaySent)
            Input.CancelPendingRead();
    }

    public void Release(Http2ServerStream stream, bool pipeline, bool protocol)
    {
        // Released by one side at a time (each holds it once), or by both at once (a stream that never reached the pipeline).
        if (!(pipeline && protocol) && !stream.Unhold())
            return;
        // As many as were in flight at once: a busy connection reuses every stream, and allocates none
        // per request (streams in flight outlive a gen0 collection: churn would fill the older generations).
        lock (_poolGate)
        {
            if (_pool.Count < Local.MaxConcurrentStreams)
                _pool.Push(stream);
        }
    }

    private void TrimPool(int keep)
    {
        lock (_poolGate)
        {
            while (_pool.Count > keep)
                _pool.Pop();
        }
    }

    protected override void OnGoAway(int lastStreamId, Http2Error error)
    {
        // The client leaves: what it has in flight finishes, nothing new opens; the connection ends after.
        if (!_goAwaySent)
            SendGoAway(Http2Error.NoError);
    }

    /// <summary>Path and query of :path, the path normalized (cached: a repeated path costs nothing).</summary>
    public bool ResolveTarget(RequestContext ctx, ReadOnlySpan<byte> target, bool connect, bool keepAmbiguous)
    {
        if (connect)
        {
            ctx.Path = "/";
            ctx.Query = "";
            return true;
        }
        return _target.Resolve(ctx, target, keepAmbiguous);
    }
}
