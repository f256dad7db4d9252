using System.Buffers;
using System.IO.Pipelines;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;

namespace Weft.Proxy.Listeners;

/// <summary>How detection ended; the label of weft_protocol_detection_total.</summary>
internal enum DetectionOutcome
{
    Http1,
    Http2,
    Tls,
    Tcp,
    /// <summary>The window closed first (a server-first protocol, or a slow client): opaque TCP.</summary>
    Timeout,
}

/// <summary>
/// Reads a connection's first bytes without consuming them (whoever handles the connection next reads
/// the same bytes: nothing needs replaying). Two waits:
///   - HTTP ports: only HTTP/2 prior knowledge versus HTTP/1 is decided, so the wait ends at the first
///     byte that leaves the h2 preface; a silent client is handed to Kestrel as HTTP/1 after
///     <see cref="HttpWindow"/>, where Kestrel's request-headers timeout takes over.
///   - Undeclared (AUTO) ports: HTTP/1, HTTP/2, TLS or TCP within the listener's short window, after
///     which the connection is TCP: a server-first protocol waits that long and no longer.
/// </summary>
internal static class ProtocolDetection
{
    public static readonly TimeSpan HttpWindow = TimeSpan.FromSeconds(10);

    public static async ValueTask<DetectionOutcome> DetectHttpAsync(ConnectionContext connection, TimeProvider time)
    {
        var preface = await PeekAsync(connection, HttpWindow, time, static buffer => ProtocolSniffer.ComparePreface(buffer) switch
        {
            true => DetectedProtocol.Http2,
            false => DetectedProtocol.Http1,
            null => null,
        }).ConfigureAwait(false);
        return preface == DetectionOutcome.Http2 ? DetectionOutcome.Http2 : DetectionOutcome.Http1;
    }

    public static ValueTask<DetectionOutcome> DetectAsync(ConnectionContext connection, TimeSpan window, TimeProvider time) =>
        PeekAsync(connection, window, time, static buffer => ProtocolSniffer.Classify(buffer));

    public static DetectedProtocol ToProtocol(DetectionOutcome outcome) => outcome switch
    {
        DetectionOutcome.Http1 => DetectedProtocol.Http1,
        DetectionOutcome.Http2 => DetectedProtocol.Http2,
        DetectionOutcome.Tls => DetectedProtocol.Tls,
        _ => DetectedProtocol.Tcp,
    };

    private static async ValueTask<DetectionOutcome> PeekAsync(ConnectionContext connection, TimeSpan window, TimeProvider time,
        Func<ReadOnlySequence<byte>, DetectedProtocol?> classify)
    {
        // A client that finished sending before anything decided is TCP (it is not HTTP or TLS).
        var verdict = await PipePeek.PeekAsync(connection.Transport.Input, window, time,
            (buffer, completed) => classify(buffer) ?? (completed ? DetectedProtocol.Tcp : null)).ConfigureAwait(false);
        return verdict switch
        {
            DetectedProtocol.Http1 => DetectionOutcome.Http1,
            DetectedProtocol.Http2 => DetectionOutcome.Http2,
            DetectedProtocol.Tls => DetectionOutcome.Tls,
            DetectedProtocol.Tcp => DetectionOutcome.Tcp,
            _ => DetectionOutcome.Timeout,
        };
    }

    /// <summary>On the h2 preface, tell Kestrel ALPN said "h2": cleartext Http1AndHttp2 otherwise only serves HTTP/1.1.</summary>
    public static void UsePriorKnowledgeH2(ConnectionContext connection)
    {
        var feature = PriorKnowledgeH2.Instance;
        connection.Features.Set<ITlsConnectionFeature>(feature);
        connection.Features.Set<ITlsApplicationProtocolFeature>(feature);
    }

    /// <summary>Stands in for TLS with ALPN "h2" so Kestrel's protocol selection picks HTTP/2.</summary>
    private sealed class PriorKnowledgeH2 : ITlsConnectionFeature, ITlsApplicationProtocolFeature
    {
        public static readonly PriorKnowledgeH2 Instance = new();
        private static readonly byte[] H2 = "h2"u8.ToArray();

        public ReadOnlyMemory<byte> ApplicationProtocol => H2;

        public X509Certificate2? ClientCertificate
        {
            get => null;
            set { }
        }

        public Task<X509Certificate2?> GetClientCertificateAsync(CancellationToken cancellationToken) =>
            Task.FromResult<X509Certificate2?>(null);
    }
}
