using System.Buffers;
using Microsoft.AspNetCore.Connections;
using Weft.Proxy.Codecs.Tls;
using Weft.Proxy.Config;

namespace Weft.Proxy.Listeners;

internal enum InboundKind
{
    /// <summary>A sidecar's mTLS: a ClientHello offering one of Weft's own ALPN protocols.</summary>
    Mtls,

    /// <summary>Anything else the client sent first: plaintext, or an app's own TLS.</summary>
    Plaintext,

    /// <summary>Nothing within the window (a server-first protocol, or a slow client): plaintext, already waited for.</summary>
    Silent,
}

/// <summary>
/// Tells a sidecar's mTLS from everything else on an inbound port by the connection's first bytes
/// (peeked, not consumed): a TLS ClientHello whose ALPN offers a <c>weft-</c> protocol. A declared TCP
/// port waits no longer than the listener's detection window for them (a server-first protocol speaks
/// first); other ports wait as HTTP detection does.
/// </summary>
internal static class InboundMtls
{
    private const byte HandshakeRecord = 0x16;

    public static async ValueTask<InboundKind> ClassifyAsync(ConnectionContext connection, ListenerRuntime listener, TimeProvider time)
    {
        var window = listener.Protocol is Protocol.Discovery.Protocol.Tcp or Protocol.Discovery.Protocol.Auto
            ? listener.DetectTimeout
            : ProtocolDetection.HttpWindow;
        var kind = await PipePeek.PeekAsync(connection.Transport.Input, window, time, static (buffer, completed) => Decide(buffer, completed))
            .ConfigureAwait(false);
        return kind ?? InboundKind.Silent;
    }

    private static InboundKind? Decide(ReadOnlySequence<byte> buffer, bool completed)
    {
        if (buffer.IsEmpty)
            return completed ? InboundKind.Plaintext : null;
        if (buffer.FirstSpan[0] != HandshakeRecord)
            return InboundKind.Plaintext;
        if (buffer.Length > ClientHello.MaxBufferedBytes)
            return InboundKind.Plaintext;
        return ClientHello.TryRead(buffer, out _, out var mesh) switch
        {
            ClientHelloStatus.Complete => mesh ? InboundKind.Mtls : InboundKind.Plaintext,
            ClientHelloStatus.Invalid => InboundKind.Plaintext,
            _ => completed ? InboundKind.Plaintext : null,
        };
    }
}
