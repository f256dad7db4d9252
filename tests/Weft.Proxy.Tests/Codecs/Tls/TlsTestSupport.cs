using System.Buffers;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Weft.Proxy.Tests.Codecs.Tls;

/// <summary>Real TLS material made in-test: ClientHellos captured from SslStream, throw-away certificates.</summary>
public static class TlsTestSupport
{
    /// <summary>The first flight SslStream sends as a client for <paramref name="targetHost"/>: its ClientHello, record header included.</summary>
    public static async Task<byte[]> CaptureClientHelloAsync(string targetHost)
    {
        var capture = new CaptureStream();
        using var ssl = new SslStream(capture, leaveInnerStreamOpen: true);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var handshake = ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = targetHost,
            RemoteCertificateValidationCallback = (_, _, _, _) => true,
        }, cts.Token);
        var hello = await capture.FirstWrite.WaitAsync(TimeSpan.FromSeconds(10));
        cts.Cancel();
        try { await handshake; } catch (Exception) { /* no server: expected */ }
        return hello;
    }

    /// <summary>A self-signed server certificate for <paramref name="dnsName"/>, valid for a day, usable by SslStream on Linux.</summary>
    public static X509Certificate2 SelfSigned(string dnsName)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=" + dnsName, key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(dnsName);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        // Round trip through PKCS#12 so the private key is usable by the TLS stack.
        return X509CertificateLoader.LoadPkcs12(cert.Export(X509ContentType.Pkcs12), null);
    }

    /// <summary>The same bytes cut into segments of the given sizes (the last takes the rest).</summary>
    public static ReadOnlySequence<byte> Segmented(byte[] data, params int[] sizes)
    {
        var chunks = new List<byte[]>();
        var offset = 0;
        foreach (var size in sizes)
        {
            if (offset >= data.Length) break;
            var n = Math.Min(size, data.Length - offset);
            chunks.Add(data[offset..(offset + n)]);
            offset += n;
        }
        if (offset < data.Length) chunks.Add(data[offset..]);
        if (chunks.Count == 1) return new ReadOnlySequence<byte>(chunks[0]);
        var first = new Segment(chunks[0], 0);
        var last = first;
        for (var i = 1; i < chunks.Count; i++) last = last.Append(chunks[i]);
        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    /// <summary>The handshake message of <paramref name="hello"/> re-cut into TLS records of at most <paramref name="recordSize"/> bytes.</summary>
    public static byte[] Rerecord(byte[] hello, int recordSize)
    {
        var handshake = hello[5..];
        var output = new List<byte>();
        for (var i = 0; i < handshake.Length; i += recordSize)
        {
            var n = Math.Min(recordSize, handshake.Length - i);
            output.AddRange([0x16, hello[1], hello[2], (byte)(n >> 8), (byte)n]);
            output.AddRange(handshake.AsSpan(i, n).ToArray());
        }
        return output.ToArray();
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }

    /// <summary>Records the first write; reads never complete until cancelled.</summary>
    private sealed class CaptureStream : Stream
    {
        private readonly TaskCompletionSource<byte[]> _first = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task<byte[]> FirstWrite => _first.Task;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => _first.TrySetResult(buffer[offset..(offset + count)]);

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            _first.TrySetResult(buffer.ToArray());
            return ValueTask.CompletedTask;
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            _first.TrySetResult(buffer[offset..(offset + count)]);
            return Task.CompletedTask;
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
            return 0;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }
}
