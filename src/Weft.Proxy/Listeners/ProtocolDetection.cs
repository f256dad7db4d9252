using System.Buffers;
using System.IO.Pipelines;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;

namespace Weft.Proxy.Listeners;

/// <summary>
/// Serves HTTP/1.1 and h2c prior knowledge on one cleartext port. Kestrel only picks HTTP/2 on an
/// Http1AndHttp2 endpoint through TLS ALPN, so when the connection opens with the HTTP/2 preface we
/// tell it ALPN said "h2". The bytes are only peeked, never consumed.
/// </summary>
internal static class ProtocolDetection
{
    private static readonly TimeSpan DetectionTimeout = TimeSpan.FromSeconds(10);

    private static readonly byte[] Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8.ToArray();

    public static async Task DetectAsync(ConnectionContext connection, ConnectionDelegate next, ConnectionDelegate? http1 = null)
    {
        if (await StartsWithPrefaceAsync(connection.Transport.Input, connection.ConnectionClosed).ConfigureAwait(false))
        {
            var feature = PriorKnowledgeH2.Instance;
            connection.Features.Set<ITlsConnectionFeature>(feature);
            connection.Features.Set<ITlsApplicationProtocolFeature>(feature);
        }
        // HOOK (lean HTTP/1.1 path, Http1/): not the h2 preface -> Http1ConnectionHandler when installed.
        else if (http1 is not null) { await http1(connection).ConfigureAwait(false); return; }
        await next(connection).ConfigureAwait(false);
    }

    private static async ValueTask<bool> StartsWithPrefaceAsync(PipeReader input, CancellationToken closed)
    {
        // A connection that sends nothing must not be held here forever: Kestrel's own timeouts only
        // start once it owns the connection. After the wait it is handed over as HTTP/1.1, whose
        // request-headers timeout then closes it.
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(closed);
        wait.CancelAfter(DetectionTimeout);
        while (true)
        {
            ReadResult result;
            try
            {
                result = await input.ReadAsync(wait.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return false;
            }
            var buffer = result.Buffer;
            var verdict = Compare(buffer);
            if (verdict.HasValue || result.IsCompleted || result.IsCanceled)
            {
                // Nothing consumed, nothing examined: Kestrel reads the same bytes next.
                input.AdvanceTo(buffer.Start);
                return verdict ?? false;
            }
            input.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    /// <summary>True: preface; false: something else; null: too few bytes to tell.</summary>
    private static bool? Compare(ReadOnlySequence<byte> buffer)
    {
        var length = (int)Math.Min(buffer.Length, Preface.Length);
        Span<byte> head = stackalloc byte[Preface.Length];
        buffer.Slice(0, length).CopyTo(head);
        if (!head[..length].SequenceEqual(Preface.AsSpan(0, length)))
            return false;
        return length == Preface.Length ? true : null;
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
