using System.IO.Pipelines;

namespace Weft.Proxy.Transport;

/// <summary>
/// A Stream over a connection's pipes: what HttpClient's connect callback returns, and what SslStream
/// reads and writes under mTLS. Disposing it runs <c>close</c>/<c>closeAsync</c> when given (the
/// stream owns the connection), else leaves the pipes as they are.
/// </summary>
internal sealed class DuplexPipeStream(IDuplexPipe pipe, Action? close = null, Func<ValueTask>? closeAsync = null) : Stream
{
    private int _disposed;

    public override bool CanRead => true;
    public override bool CanWrite => true;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var input = pipe.Input;
        while (true)
        {
            var result = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
            var data = result.Buffer;
            if (data.IsEmpty)
            {
                input.AdvanceTo(data.End);
                if (result.IsCompleted || result.IsCanceled)
                    return 0;
                continue;
            }
            var take = (int)Math.Min(data.Length, buffer.Length);
            var slice = data.Slice(0, take);
            System.Buffers.BuffersExtensions.CopyTo(slice, buffer.Span);
            input.AdvanceTo(slice.End);
            return take;
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var flushed = await pipe.Output.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
        if (flushed.IsCompleted)
            throw new IOException("the connection is closed");
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async Task FlushAsync(CancellationToken cancellationToken)
    {
        var flushed = await pipe.Output.FlushAsync(cancellationToken).ConfigureAwait(false);
        if (flushed.IsCompleted)
            throw new IOException("the connection is closed");
    }

    public override void Flush() => FlushAsync(CancellationToken.None).GetAwaiter().GetResult();
    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();
    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing && Interlocked.Exchange(ref _disposed, 1) == 0)
            close?.Invoke();
        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0 && closeAsync is not null)
            await closeAsync().ConfigureAwait(false);
        GC.SuppressFinalize(this);
    }
}
