using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;

namespace Weft.Proxy.Transport;

/// <summary>
/// A TCP connection served by an <see cref="EventLoop"/>: a ConnectionContext for Kestrel and the lean
/// HTTP/1.1 path whose Transport reads and writes the socket directly (<see cref="LoopReader"/>,
/// <see cref="LoopWriter"/>). Readiness continuations run on the loop's thread, as Kestrel's
/// inline scheduling does. The descriptor is closed once both sides are complete (a FIN), or on abort
/// (a reset: a peer reading a close-delimited body must not take a truncated one for complete).
/// </summary>
internal sealed class LoopConnection : ConnectionContext, IEventHandler, IDuplexPipe,
    IConnectionIdFeature, IConnectionTransportFeature, IConnectionItemsFeature, IConnectionLifetimeFeature,
    IConnectionEndPointFeature, IMemoryPoolFeature
{
    private static long s_ids;

    private readonly LoopSocketHandle _handle;
    private readonly EventLoop _loop;
    private readonly ulong _token;
    private readonly LoopReader _reader;
    private readonly LoopWriter _writer;
    private readonly CancellationTokenSource _closed = new();
    private readonly Lock _gate = new();
    private IFeatureCollection? _features;
    private IDictionary<object, object?>? _items;
    private string? _id;
    private EndPoint? _local, _remote;
    private readonly TaskCompletionSource _gone = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource? _connecting;
    private bool _readerDone, _writerDone, _disposed, _closedSignaled;

    /// <summary>How long DisposeAsync lets unsent bytes drain to a peer that stopped reading.</summary>
    private static readonly TimeSpan DrainLimit = TimeSpan.FromSeconds(30);

    private LoopConnection(LoopSocketHandle handle, EventLoop loop, EndPoint? local, EndPoint? remote, bool connecting, out int registerError)
    {
        _handle = handle;
        if (connecting)
            _connecting = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _loop = loop;
        _local = local;
        _remote = remote;
        _reader = new LoopReader(this);
        _writer = new LoopWriter(this);
        registerError = loop.TryRegister(handle.DangerousGetHandle(), this, Native.EPOLLIN | Native.EPOLLOUT | Native.EPOLLRDHUP, out _token);
    }

    /// <summary>
    /// A connection the loop serves, or null when the loop cannot watch the socket (epoll_ctl failed:
    /// ENOSPC, ENOMEM; counted), with the errno: the handle is still the caller's to close then.
    /// </summary>
    public static LoopConnection? TryCreate(LoopSocketHandle handle, EventLoop loop, out int errno,
        EndPoint? local = null, EndPoint? remote = null, bool connecting = false)
    {
        var connection = new LoopConnection(handle, loop, local, remote, connecting, out errno);
        return errno == 0 ? connection : null;
    }

    public PipeReader Input => _reader;
    public PipeWriter Output => _writer;

    public override string ConnectionId
    {
        get => _id ??= "L" + Interlocked.Increment(ref s_ids).ToString(System.Globalization.CultureInfo.InvariantCulture);
        set => _id = value;
    }

    public override IFeatureCollection Features => _features ??= CreateFeatures();

    private FeatureCollection CreateFeatures()
    {
        var features = new FeatureCollection();
        features.Set<IConnectionIdFeature>(this);
        features.Set<IConnectionTransportFeature>(this);
        features.Set<IConnectionItemsFeature>(this);
        features.Set<IConnectionLifetimeFeature>(this);
        features.Set<IConnectionEndPointFeature>(this);
        features.Set<IMemoryPoolFeature>(this);
        return features;
    }

    public override IDictionary<object, object?> Items
    {
        get => _items ??= new ConnectionItems();
        set => _items = value;
    }

    public override IDuplexPipe Transport
    {
        get => this;
        set => throw new NotSupportedException("the loop transport's pipe cannot be replaced");
    }

    public override CancellationToken ConnectionClosed
    {
        get => _closed.Token;
        set => throw new NotSupportedException();
    }

    public MemoryPool<byte> MemoryPool => MemoryPool<byte>.Shared;

    public override EndPoint? LocalEndPoint
    {
        get => _local ??= EndPointOf(peer: false);
        set => _local = value;
    }

    public override EndPoint? RemoteEndPoint
    {
        get => _remote ??= EndPointOf(peer: true);
        set => _remote = value;
    }

    // getsockname/getpeername directly: a Socket wrapped around the descriptor would, when disposed,
    // shut the connection down under us (Socket.Dispose unblocks its handle abortively).
    private EndPoint? EndPointOf(bool peer) => _handle.EndPoint(peer);

    /// <summary>For a connection made with connecting: true, completes at the first writable or error edge (then check SO_ERROR).</summary>
    internal Task ConnectEdge => _connecting?.Task ?? Task.CompletedTask;

    /// <summary>SO_ERROR after a non-blocking connect: 0 when connected.</summary>
    internal int ConnectError() => _handle.SocketError();

    void IEventHandler.OnEvents(uint events)
    {
        if (_connecting is { } connecting)
        {
            if ((events & (Native.EPOLLOUT | Native.EPOLLHUP | Native.EPOLLERR)) == 0)
                return;
            _connecting = null;
            connecting.TrySetResult();
            return;
        }
        if ((events & (Native.EPOLLIN | Native.EPOLLRDHUP | Native.EPOLLHUP | Native.EPOLLERR)) != 0)
            _reader.OnReadable((events & (Native.EPOLLRDHUP | Native.EPOLLHUP | Native.EPOLLERR)) != 0, (events & (Native.EPOLLHUP | Native.EPOLLERR)) != 0);
        if ((events & (Native.EPOLLOUT | Native.EPOLLHUP | Native.EPOLLERR)) != 0)
            _writer.OnWritable();
    }

    /// <summary>Code on the loop's thread threw for this connection (the loop counted it): the connection resets.</summary>
    void IEventHandler.OnFailed(Exception error) =>
        Close(new ConnectionAbortedException("the transport failed on this connection: " + error.Message, error), reset: true);

    internal nint Receive(Span<byte> buffer, out int errno) => _handle.Receive(buffer, out errno);

    internal nint Send(ReadOnlySpan<byte> buffer, out int errno) => _handle.Send(buffer, out errno);

    /// <summary>Holds the descriptor open for a send made elsewhere (a <see cref="SendBatch"/>); false once closed.</summary>
    internal bool EnterSend(out nint fd) => _handle.TryEnter(out fd);

    internal void ExitSend() => _handle.DangerousRelease();

    /// <summary>
    /// The peer reset, or ended its sending (FIN): met by a reader, or seen at its edge while nobody
    /// read and nothing it sent was left unread. Whoever watches ConnectionClosed hears it (off the
    /// loop's thread); the pipes still half-close: bytes go on flowing the other way.
    /// </summary>
    internal void OnPeerClosed() => SignalClosed();

    /// <summary>See <see cref="LoopSocketHandle.PeerEnded"/>.</summary>
    internal bool PeerEnded() => _handle.PeerEnded();

    private void SignalClosed()
    {
        lock (_gate)
        {
            if (_closedSignaled)
                return;
            _closedSignaled = true;
        }
        ThreadPool.UnsafeQueueUserWorkItem(static c => c.CancelClosed(), this, preferLocal: false);
    }

    private void CancelClosed()
    {
        try
        {
            _closed.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Disposed meanwhile.
        }
        catch (AggregateException ex)
        {
            // A ConnectionClosed callback threw (the others still ran): on a pool thread, unhandled, it
            // would end the process. Counted, as Kestrel's socket transport logs it.
            TransportCounters.HandlerFailed(ex);
        }
    }

    internal void OnReaderCompleted()
    {
        lock (_gate)
            _readerDone = true;
        CloseIfDone();
    }

    internal void OnWriterCompleted()
    {
        bool readerDone;
        lock (_gate)
        {
            _writerDone = true;
            readerDone = _readerDone;
        }
        if (!readerDone)
            _handle.ShutdownSend();
        CloseIfDone();
    }

    private void CloseIfDone()
    {
        lock (_gate)
        {
            if (!_readerDone || !_writerDone)
                return;
        }
        Close(null, reset: false);
    }

    private void Close(Exception? reason, bool reset)
    {
        lock (_gate)
        {
            if (_disposed)
                return;
            _disposed = true;
        }
        if (reset)
            _handle.ResetOnClose();
        _loop.Unregister(_token);
        _reader.OnClosed(reason);
        _writer.OnClosed();
        _handle.Dispose();
        _connecting?.TrySetResult();
        SignalClosed();
        _gone.TrySetResult();
    }

    /// <summary>Ends the connection now with a reset (SO_LINGER {on, 0}), never a FIN; unsent bytes are dropped.</summary>
    public override void Abort(ConnectionAbortedException abortReason) => Close(abortReason, reset: true);

    /// <summary>As Kestrel's socket transport: both sides complete, what was written still drains (bounded), then the descriptor closes.</summary>
    public override async ValueTask DisposeAsync()
    {
        _writer.Complete();
        _reader.Complete();
        if (!_gone.Task.IsCompleted)
        {
            try
            {
                await _gone.Task.WaitAsync(DrainLimit).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // The peer stopped reading: give up on the rest.
            }
        }
        Close(null, reset: false);
        _closed.Dispose();
    }

    /// <summary>Items as Kestrel's transports keep them: a plain dictionary, created on first use.</summary>
    private sealed class ConnectionItems : Dictionary<object, object?>;
}
