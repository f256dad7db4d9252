using System.Diagnostics;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using System.Text;
using Weft.Proxy.Pipeline;

namespace Weft.Proxy.Codecs.Http2;

/// <summary>
/// One request stream of the server side: its head decoded and checked as it arrives (RFC 9113 8.1-8.3:
/// a malformed request is a stream error, one over a limit gets 431), then it is the pipeline's request
/// (<see cref="IDownstream"/>): the request body is its <see cref="StreamInput"/>, the answer goes out as
/// HEADERS, DATA (as the client's windows allow) and END_STREAM on trailers or an empty DATA. Streams
/// are reused by their connection: a repeated request allocates next to nothing.
/// </summary>
internal sealed class Http2ServerStream : Http2Stream, IDownstream, IHeaderBlockTarget
{
    private readonly Http2ServerConnection _owner;
    private readonly RequestContext _ctx = new();
    private readonly FieldList _fields = new();
    private readonly HeaderList _scratch = new();
    private readonly TrailerTarget _trailerTarget;
    private readonly Action _onServed;
    private ConfiguredValueTaskAwaitable.ConfiguredValueTaskAwaiter _serving;

    // The head as decoded.
    private string? _method;
    private byte[] _path = new byte[128];
    private int _pathLength = -1;
    private bool _sawScheme, _sawAuthority, _sawRegular, _malformed, _tooLarge, _isGrpc;
    private int _listBytes;

    // The answer.
    private bool _hasBody;
    private bool _responseStarted;
    private byte[]? _trailers;
    private int _trailersLength;
    private CancellationTokenSource? _aborted;
    private IAbortWatcher? _watcher;
    private int _holds;                    // the protocol's and the pipeline's: at 0 the stream is reused
    private int _resetSeen;                // 1 once reset: a watcher set later is told at once

    public Http2ServerStream(Http2ServerConnection connection) : base(connection)
    {
        _owner = connection;
        _ctx.Headers = _fields;
        _trailerTarget = new TrailerTarget(this);
        _onServed = OnServed;
    }

    public int Fields { get; private set; }

    public bool IsGrpc => _isGrpc;

    /// <summary>Ready for a new stream's head.</summary>
    public void Begin(int id, int receiveWindow)
    {
        Open(id, receiveWindow);
        _fields.Clear();
        _method = null;
        _pathLength = -1;
        _sawScheme = _sawAuthority = _sawRegular = _malformed = _tooLarge = _isGrpc = false;
        _listBytes = 0;
        Fields = 0;
        _responseStarted = false;
        _trailers = null;
        _trailersLength = 0;
        _watcher = null;
        _resetSeen = 0;
        if (_aborted is not null && !_aborted.TryReset())
        {
            _aborted.Dispose();
            _aborted = null;
        }
        _holds = 2;
    }

    // ------------------------------------------------------------------ the request head

    public void OnField(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
    {
        Fields++;
        _listBytes += name.Length + value.Length + 32;
        if (_listBytes > _owner.Local.MaxHeaderList || Fields > _owner.Local.MaxHeaderCount)
        {
            _tooLarge = true;
            return;
        }
        if (_malformed || _tooLarge)
            return;
        if (name.Length != 0 && name[0] == (byte)':')
        {
            OnPseudoHeader(name, value);
            return;
        }
        _sawRegular = true;
        if (!RequestFields.ValidName(name) || !RequestFields.ValidValue(value) || RequestFields.IsConnectionSpecific(name, value))
        {
            _malformed = true;
            return;
        }
        if (HeaderBlocks.IsHost(name))
        {
            if (_sawAuthority)
                return;                    // :authority wins (RFC 9113 8.3.1); one host only
            _sawAuthority = true;
        }
        else if (name.Length == 14 && name.SequenceEqual("content-length"u8))
        {
            if (!RequestFields.TryParseLength(value, out var length) || (DeclaredLength >= 0 && DeclaredLength != length))
            {
                _malformed = true;
                return;
            }
            DeclaredLength = length;
            return;
        }
        else if (name.Length == 12 && name.SequenceEqual("content-type"u8))
        {
            _isGrpc = GrpcContentType.Is(value);
        }
        _fields.Add(name, value);
    }

    private void OnPseudoHeader(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
    {
        // RFC 9113 8.3: pseudo-headers first, each once, only the request's four.
        if (_sawRegular)
        {
            _malformed = true;
            return;
        }
        switch (name.Length)
        {
            case 7 when name.SequenceEqual(":method"u8):
                if (_method is not null || value.IsEmpty)
                    _malformed = true;
                else
                    _method = MethodNames.Of(value);
                return;
            case 5 when name.SequenceEqual(":path"u8):
                if (_pathLength >= 0 || value.IsEmpty)
                {
                    _malformed = true;
                    return;
                }
                if (_path.Length < value.Length)
                    _path = new byte[Math.Max(value.Length, _path.Length * 2)];
                value.CopyTo(_path);
                _pathLength = value.Length;
                return;
            case 7 when name.SequenceEqual(":scheme"u8):
                _malformed |= _sawScheme || value.IsEmpty;
                _sawScheme = true;
                return;
            case 10 when name.SequenceEqual(":authority"u8):
                if (_sawAuthority || !RequestFields.ValidValue(value))
                {
                    _malformed = true;
                    return;
                }
                _sawAuthority = true;
                _fields.Add("host"u8, value);
                return;
            default:
                _malformed = true;
                return;
        }
    }

    public void OnBlockEnd(bool endStream)
    {
        var started = Stopwatch.GetTimestamp();
        if (!_malformed && (_method is null || (_method != "CONNECT" && (!_sawScheme || _pathLength < 0))))
            _malformed = true;
        if (_malformed)
        {
            _owner.Refuse(this, Http2Error.ProtocolError);
            return;
        }
        if (_tooLarge)
        {
            _owner.RefuseTooLarge(this, endStream);
            return;
        }
        _hasBody = !endStream;
        RemoteEnded = endStream;
        if (endStream && DeclaredLength > 0)
        {
            _owner.Refuse(this, Http2Error.ProtocolError);
            return;
        }
        _owner.Admit(this);
        var ctx = _ctx;
        ctx.Reset();
        var runtime = _owner.Codec.State.Current;
        ctx.Runtime = runtime;
        ctx.Started = started;
        ctx.Method = _method!;
        ctx.IsGrpc = _isGrpc;
        ctx.Protocol = _isGrpc ? "grpc" : "http2";
        if (_owner.Binding.Resolve(runtime) is not { } listener)
        {
            Serve(RequestPipeline.RefuseUnboundAsync(this));
            return;
        }
        ctx.Listener = listener;
        ctx.PeerIdentity = _owner.Binding.Peer;
        if (!_owner.ResolveTarget(ctx, _path.AsSpan(0, Math.Max(_pathLength, 0)), _method == "CONNECT", runtime.Limits.KeepAmbiguousPaths))
            ctx.Flag = ResponseFlag.BadPath;
        Serve(_owner.Codec.Pipeline.ServeAsync(ctx, this));
    }

    public void Abandon() => _owner.Release(this, pipeline: true, protocol: true);

    /// <summary>Runs the pipeline on the reader's thread until it first waits; the rest resumes wherever its upstream answers.</summary>
    private void Serve(ValueTask serving)
    {
        if (serving.IsCompleted)
        {
            Finish(serving);
            return;
        }
        _serving = serving.ConfigureAwait(false).GetAwaiter();
        _serving.UnsafeOnCompleted(_onServed);
    }

    private void OnServed()
    {
        var awaiter = _serving;
        _serving = default;
        try
        {
            awaiter.GetResult();
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or InvalidOperationException or ObjectDisposedException)
        {
            Reset();
        }
        Ended();
    }

    private void Finish(ValueTask served)
    {
        try
        {
            served.GetAwaiter().GetResult();
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or InvalidOperationException or ObjectDisposedException)
        {
            Reset();
        }
        Ended();
    }

    /// <summary>The pipeline is done: END_STREAM (with trailers if any) goes after the body, then the answer is flushed.</summary>
    private void Ended()
    {
        if (!Closed)
        {
            if (_trailers is { } trailers)
            {
                var block = new HeaderBlocks.Encoded(trailers, _trailersLength);
                Output.End(ref block, hasTrailers: true);
                System.Buffers.ArrayPool<byte>.Shared.Return(trailers);
                _trailers = null;
            }
            else
            {
                var none = new HeaderBlocks.None();
                Output.End(ref none, hasTrailers: false);
            }
        }
        Connection.Output.Flush();
        _owner.OnServed(this, _ctx);
        _owner.Release(this, pipeline: true, protocol: false);
    }

    public override void OnOutputEnded()
    {
        // The answer is complete while the client still sends: it may stop (RFC 9113 8.1).
        if (!RemoteEnded)
        {
            Input.Complete();
            Connection.ResetStream(this, Http2Error.NoError);
            return;
        }
        base.OnOutputEnded();
    }

    public override void OnReset(Http2Error error, bool connectionLost)
    {
        Interlocked.Exchange(ref _resetSeen, 1);
        try
        {
            _aborted?.Cancel();
        }
        catch (AggregateException)
        {
            // A callback of a request that is ending anyway.
        }
        Volatile.Read(ref _watcher)?.OnClientAborted(this);
    }

    public override IHeaderBlockTarget BeginHeaders(bool endStream)
    {
        // Trailers: they must end the stream (RFC 9113 8.1); their fields are not forwarded.
        if (!endStream)
            return _owner.DropAndReset(Id, Http2Error.ProtocolError);
        return _trailerTarget.Begin();
    }

    /// <summary>Back to the connection's pool once neither the protocol nor the pipeline holds it.</summary>
    public bool Unhold() => Interlocked.Decrement(ref _holds) == 0;

    // ------------------------------------------------------------------ IDownstream

    public PipeReader? RequestBody => _hasBody ? Input : null;

    public long RequestBodyLength => DeclaredLength;

    public string? UpgradeOffer => null;

    public CancellationToken Aborted
    {
        get
        {
            var cts = _aborted ??= new CancellationTokenSource();
            if (Closed && !Output.Ended)
                cts.Cancel();
            return cts.Token;
        }
    }

    public void WatchAborted(IAbortWatcher? watcher)
    {
        // A full fence: a reset racing this either sees the watcher or is seen here.
        Interlocked.Exchange(ref _watcher, watcher);
        // Reset before the watch was set (while the request waited for a route or an upstream): told now.
        if (watcher is not null && Volatile.Read(ref _resetSeen) != 0)
            watcher.OnClientAborted(this);
    }

    public ValueTask<bool> UpstreamReadyAsync() => new(true);

    public bool ResponseStarted => _responseStarted;

    public IBodySink ResponseBody => Output;

    public void WriteResponseHead(ResponseHead head)
    {
        _responseStarted = true;
        var fields = HeaderBlocks.Prepare(head.Headers, _scratch);
        var block = new HeaderBlocks.Response(head.Status, fields, _scratch, head.ContentLength);
        if (!head.HasBody)
        {
            // Nothing follows (a gRPC trailers-only answer, a 204, an answer to HEAD): one HEADERS frame
            // with END_STREAM, as the upstream sent it. gRPC clients read a status only from a block that ends the stream.
            if (!Closed)
                Output.End(ref block, hasTrailers: true);
            return;
        }
        lock (Connection.Output.Gate)
        {
            if (!Closed)
                Connection.Output.WriteHeadersLocked(Id, endStream: false, ref block);
        }
    }

    public void WriteTrailers(HeaderView trailers)
    {
        var fields = HeaderBlocks.Prepare(trailers, _scratch);
        var block = new HeaderBlocks.Trailers(fields, _scratch);
        var max = block.MaxLength;
        if (max == 0)
            return;
        var bytes = System.Buffers.ArrayPool<byte>.Shared.Rent(max);
        _trailersLength = block.Encode(bytes);
        _trailers = bytes;
    }

    public ValueTask<IDuplexPipe?> UpgradeAsync(ResponseHead head) => new((IDuplexPipe?)null);

    public ValueTask WriteLocalReplyAsync(int status, string reason, string message)
    {
        _responseStarted = true;
        var length = Encoding.UTF8.GetByteCount(message);
        var block = new HeaderBlocks.LocalReply(status, reason, length);
        lock (Connection.Output.Gate)
        {
            if (Closed)
                return ValueTask.CompletedTask;
            Connection.Output.WriteHeadersLocked(Id, endStream: false, ref block);
        }
        if (_ctx.Method != "HEAD" && length != 0)
        {
            Span<byte> body = length <= 512 ? stackalloc byte[length] : new byte[length];
            Encoding.UTF8.GetBytes(message, body);
            Output.Write(body);
        }
        return ValueTask.CompletedTask;
    }

    /// <summary>The answer cannot be completed: RST_STREAM, so the client never takes it for whole.</summary>
    public void Reset()
    {
        if (!Closed)
            Connection.ResetStream(this, _ctx.Flag == ResponseFlag.ClientAborted ? Http2Error.Cancel : Http2Error.InternalError);
    }

    /// <summary>A request's trailers: checked (no pseudo-headers, RFC 9113 8.1), counted, not forwarded; they end the body.</summary>
    private sealed class TrailerTarget(Http2ServerStream stream) : IHeaderBlockTarget
    {
        private bool _malformed;

        public int Fields { get; private set; }

        public TrailerTarget Begin()
        {
            Fields = 0;
            _malformed = false;
            return this;
        }

        public void OnField(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
        {
            Fields++;
            if (name.IsEmpty || name[0] == (byte)':' || !RequestFields.ValidName(name))
                _malformed = true;
        }

        public void OnBlockEnd(bool endStream)
        {
            if (_malformed)
            {
                stream.Connection.ResetStream(stream, Http2Error.ProtocolError);
                return;
            }
            if (stream.DeclaredLength >= 0 && stream.Input.Received != stream.DeclaredLength)
            {
                stream.Connection.ResetStream(stream, Http2Error.ProtocolError);
                return;
            }
            stream.Input.Append([], end: true);
            stream.OnRemoteEnded();
        }

        public void Abandon()
        {
        }
    }
}
