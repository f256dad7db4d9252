using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;

namespace Weft.Proxy.Security.Mtls;

/// <summary>
/// A connection after an mTLS handshake: the same ConnectionContext shape the codecs take, whose pipes
/// carry plaintext through <see cref="SslStream"/> over the transport's own pipes. Everything else
/// (end points, reset, close) is the transport connection's. The output is a Pipe that one pump per
/// connection encrypts into records (codecs may write while a flush is pending, as on the transport's
/// own writer); completing it sends TLS close_notify, then FIN, so a half-close crosses the tunnel as
/// it would a plain connection.
/// </summary>
internal sealed class TlsConnection : ConnectionContext, IDuplexPipe, IConnectionTransportFeature
{
    /// <summary>What a record carries at most (RFC 8446 5.1): buffered segments are coalesced up to it.</summary>
    private const int RecordSize = 16 * 1024;

    private readonly ConnectionContext _inner;
    private readonly SslStream _ssl;
    private readonly ClosingReader _input;
    private readonly Pipe _output;
    private readonly FeatureCollection _features;
    private readonly Task _pump;
    private int _disposed;

    public TlsConnection(ConnectionContext inner, SslStream ssl, PeerIdentity peer)
    {
        _inner = inner;
        _ssl = ssl;
        Peer = peer;
        Protocol = ssl.NegotiatedApplicationProtocol;
        _input = new ClosingReader(PipeReader.Create(ssl, new StreamPipeReaderOptions(bufferSize: RecordSize, minimumReadSize: 2048, leaveOpen: true)), inner);
        // Inline schedulers: the pump runs where the codec's flush ran, no thread-pool hop per write.
        _output = new Pipe(new PipeOptions(readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline,
            pauseWriterThreshold: 256 * 1024, resumeWriterThreshold: 128 * 1024, minimumSegmentSize: 4096, useSynchronizationContext: false));
        _features = new FeatureCollection(inner.Features);
        _features.Set<IConnectionTransportFeature>(this);
        _pump = PumpOutputAsync();
    }

    /// <summary>Who the other end proved to be.</summary>
    public PeerIdentity Peer { get; }

    /// <summary>The ALPN protocol the handshake settled on (<see cref="MeshAlpn"/>).</summary>
    public SslApplicationProtocol Protocol { get; }

    public PipeReader Input => _input;
    public PipeWriter Output => _output.Writer;

    public override string ConnectionId { get => _inner.ConnectionId; set => _inner.ConnectionId = value; }
    public override IFeatureCollection Features => _features;
    public override IDictionary<object, object?> Items { get => _inner.Items; set => _inner.Items = value; }

    public override IDuplexPipe Transport
    {
        get => this;
        set => throw new NotSupportedException("an mTLS connection's pipes cannot be replaced");
    }

    public override CancellationToken ConnectionClosed { get => _inner.ConnectionClosed; set => _inner.ConnectionClosed = value; }
    public override EndPoint? LocalEndPoint { get => _inner.LocalEndPoint; set => _inner.LocalEndPoint = value; }
    public override EndPoint? RemoteEndPoint { get => _inner.RemoteEndPoint; set => _inner.RemoteEndPoint = value; }

    public override void Abort(ConnectionAbortedException abortReason)
    {
        _output.Reader.CancelPendingRead();
        _inner.Abort(abortReason);
    }

    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        await _input.CompleteAsync().ConfigureAwait(false);
        await _output.Writer.CompleteAsync().ConfigureAwait(false);
        try
        {
            // What is still unsent drains as the transport's own does, no longer.
            await _pump.WaitAsync(DrainLimit).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            _inner.Abort(new ConnectionAbortedException("the peer took nothing for " + DrainLimit.TotalSeconds + " s"));
            await _pump.ConfigureAwait(false);
        }
        await _ssl.DisposeAsync().ConfigureAwait(false);
        await _inner.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>How long disposing lets unsent records drain to a peer that stopped reading (the transport's own limit).</summary>
    private static readonly TimeSpan DrainLimit = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Encrypts what the codec writes, in records of up to 16 KiB, until the codec completes the output;
    /// then close_notify and the transport's own end (FIN). A failure resets the connection.
    /// </summary>
    private async Task PumpOutputAsync()
    {
        var reader = _output.Reader;
        byte[]? staging = null;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync().ConfigureAwait(false);
                var buffer = result.Buffer;
                if (result.IsCanceled)
                    break;
                if (buffer.IsSingleSegment)
                {
                    if (!buffer.IsEmpty)
                        await _ssl.WriteAsync(buffer.First).ConfigureAwait(false);
                }
                else
                {
                    // Many small segments would each become a record and a send: gather them first.
                    staging ??= System.Buffers.ArrayPool<byte>.Shared.Rent(RecordSize);
                    var rest = buffer;
                    while (!rest.IsEmpty)
                    {
                        var take = (int)Math.Min(rest.Length, RecordSize);
                        System.Buffers.BuffersExtensions.CopyTo(rest.Slice(0, take), staging);
                        await _ssl.WriteAsync(staging.AsMemory(0, take)).ConfigureAwait(false);
                        rest = rest.Slice(take);
                    }
                }
                reader.AdvanceTo(buffer.End);
                if (result.IsCompleted)
                {
                    await _ssl.ShutdownAsync().ConfigureAwait(false);
                    await _inner.Transport.Output.CompleteAsync().ConfigureAwait(false);
                    break;
                }
            }
            await reader.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException or NotSupportedException
            or System.Security.Authentication.AuthenticationException or OperationCanceledException)
        {
            // The connection broke under the pump: the codec's next write sees the output completed.
            await reader.CompleteAsync(e).ConfigureAwait(false);
            _inner.Abort(new ConnectionAbortedException("mTLS output failed", e));
        }
        finally
        {
            if (staging is not null)
                System.Buffers.ArrayPool<byte>.Shared.Return(staging);
        }
    }

    /// <summary>
    /// The plaintext reader; completing it completes the transport's input too, so a connection closed
    /// by completing both pipes (as pools close theirs) lets the transport close its descriptor.
    /// </summary>
    private sealed class ClosingReader(PipeReader inner, ConnectionContext transport) : PipeReader
    {
        private int _completed;

        public override bool TryRead(out ReadResult result) => inner.TryRead(out result);
        public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default) => inner.ReadAsync(cancellationToken);
        public override void AdvanceTo(SequencePosition consumed) => inner.AdvanceTo(consumed);
        public override void AdvanceTo(SequencePosition consumed, SequencePosition examined) => inner.AdvanceTo(consumed, examined);
        public override void CancelPendingRead() => inner.CancelPendingRead();

        public override void Complete(Exception? exception = null)
        {
            if (Interlocked.Exchange(ref _completed, 1) != 0)
                return;
            inner.Complete(exception);
            transport.Transport.Input.Complete(exception);
        }

        public override async ValueTask CompleteAsync(Exception? exception = null)
        {
            if (Interlocked.Exchange(ref _completed, 1) != 0)
                return;
            await inner.CompleteAsync(exception).ConfigureAwait(false);
            await transport.Transport.Input.CompleteAsync(exception).ConfigureAwait(false);
        }
    }
}
