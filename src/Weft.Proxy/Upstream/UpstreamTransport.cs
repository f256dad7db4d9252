using System.IO.Pipelines;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;

namespace Weft.Proxy.Upstream;

/// <summary>
/// A connection to an upstream as the cluster client uses it: two pipes, an orderly close (FIN once what
/// was written has left) and a reset. Made only by <see cref="Connector"/>.
/// </summary>
internal abstract class UpstreamTransport : IDuplexPipe
{
    public abstract PipeReader Input { get; }
    public abstract PipeWriter Output { get; }

    /// <summary>Ends the connection with a reset (RST): for a response or request cut short.</summary>
    public abstract void Reset();

    /// <summary>Closes in order: what was written drains, then FIN.</summary>
    public abstract ValueTask CloseAsync();

    /// <summary>Closes in order without waiting for what was written to drain.</summary>
    public abstract void Close();

    /// <summary>The connection as a Stream (what HttpClient's connect callback returns); the stream owns it.</summary>
    public abstract Stream AsStream();
}

/// <summary>
/// A connection as a transport's ConnectionContext: Weft's event loop (which half-closes when the output
/// completes), or Kestrel's socket connection for HTTP on .NET's sockets (which closes both ways then).
/// </summary>
internal sealed class ConnectionUpstream(ConnectionContext connection, Socket? socket = null) : UpstreamTransport
{
    public override PipeReader Input => connection.Transport.Input;
    public override PipeWriter Output => connection.Transport.Output;

    public override void Reset()
    {
        if (socket is not null)
        {
            try
            {
                socket.LingerState = new LingerOption(true, 0);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                // Already closed.
            }
        }
        Codecs.ClientReset.Abort(connection);
    }

    public override async ValueTask CloseAsync()
    {
        try
        {
            await connection.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // Closing a broken connection: nothing to report.
        }
    }

    public override void Close()
    {
        connection.Transport.Output.Complete();
        connection.Transport.Input.Complete();
    }

    public override Stream AsStream() => new Transport.DuplexPipeStream(this, Close, CloseAsync);
}

/// <summary>
/// A connection on .NET's sockets (WEFT_PROXY_TRANSPORT=sockets, or where the loop transport cannot
/// run). Completing its output shuts down the sending side only (half-close), as TCP forwarding needs.
/// </summary>
internal sealed class SocketUpstream : UpstreamTransport
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly PipeReader _input;
    private readonly PipeWriter _output;

    public SocketUpstream(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
        _input = PipeReader.Create(_stream, new StreamPipeReaderOptions(leaveOpen: true));
        _output = new HalfClosingWriter(PipeWriter.Create(_stream, new StreamPipeWriterOptions(leaveOpen: true)), socket);
    }

    public override PipeReader Input => _input;
    public override PipeWriter Output => _output;

    public override void Reset()
    {
        Transport.ConnectionReset.Reset(_socket);
        _stream.Dispose();
    }

    public override async ValueTask CloseAsync()
    {
        try
        {
            await _output.CompleteAsync().ConfigureAwait(false);
            await _input.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or InvalidOperationException)
        {
            // Closing a broken connection: nothing to report.
        }
        await _stream.DisposeAsync().ConfigureAwait(false);
    }

    public override void Close()
    {
        try
        {
            _output.Complete();
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or InvalidOperationException)
        {
            // Broken already.
        }
        _stream.Dispose();
    }

    public override Stream AsStream() => _stream;

    /// <summary>A stream pipe writer whose completion is a half-close of the socket, not a close.</summary>
    private sealed class HalfClosingWriter(PipeWriter inner, Socket socket) : PipeWriter
    {
        public override void Advance(int bytes) => inner.Advance(bytes);
        public override Memory<byte> GetMemory(int sizeHint = 0) => inner.GetMemory(sizeHint);
        public override Span<byte> GetSpan(int sizeHint = 0) => inner.GetSpan(sizeHint);
        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) => inner.FlushAsync(cancellationToken);
        public override void CancelPendingFlush() => inner.CancelPendingFlush();

        public override void Complete(Exception? exception = null)
        {
            inner.Complete(exception);
            try
            {
                socket.Shutdown(SocketShutdown.Send);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                // Gone already.
            }
        }

        public override async ValueTask CompleteAsync(Exception? exception = null)
        {
            await inner.CompleteAsync(exception).ConfigureAwait(false);
            try
            {
                socket.Shutdown(SocketShutdown.Send);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                // Gone already.
            }
        }
    }
}
