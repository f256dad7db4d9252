using System.Buffers;

namespace Weft.Proxy.Transport;

/// <summary>
/// The byte buffers a connection's bytes pass through on their way between threads: a writer's send
/// buffer (filled on the thread that answers, often another connection's loop, and given back on the
/// loop that sent it) and an HTTP/2 stream's received body (filled by its connection's reader, given
/// back by whoever reads it). <see cref="ArrayPool{T}.Shared"/> keeps a few arrays per thread and per
/// core: with a thousand connections rented on one thread and returned on another, it ran dry on one
/// side and dropped the returns on the other, and every response allocated its buffer (bench: 2.8 KB of
/// garbage per HTTP/2 request under 1000 connections, which outlived gen0 while in flight and grew the
/// heap). One pool shared by all threads, deep enough for a thousand buffers of a size, rents and
/// returns in balance; it only ever holds what was once in use at the same time.
/// </summary>
internal static class BufferPool
{
    public static readonly ArrayPool<byte> Shared = ArrayPool<byte>.Create(maxArrayLength: 1024 * 1024, maxArraysPerBucket: 1024);
}
