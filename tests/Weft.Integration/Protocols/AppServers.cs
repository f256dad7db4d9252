using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Weft.Integration.Protocols;

/// <summary>The apps behind the sidecars: plain sockets on 127.0.0.1:0, one handler per connection.</summary>
public sealed class AppServer : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;

    private AppServer(Func<Socket, CancellationToken, Task> handler)
    {
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _accepting = AcceptAsync(handler);
    }

    public int Port { get; }

    /// <summary>Server-first, like SMTP: a banner at once, then "250 " + each line read.</summary>
    public static AppServer SmtpLike(string banner) => new(async (socket, ct) =>
    {
        await socket.SendAsync(Encoding.ASCII.GetBytes(banner), ct);
        using var reader = new StreamReader(new NetworkStream(socket, ownsSocket: false));
        while (await reader.ReadLineAsync(ct) is { } line)
            await socket.SendAsync(Encoding.ASCII.GetBytes("250 " + line + "\r\n"), ct);
    });

    /// <summary>Reads until the client's FIN, then answers <paramref name="reply"/> followed by all it read, then closes.</summary>
    public static AppServer AnswersAfterEof(byte[] reply) => new(async (socket, ct) =>
    {
        var received = new MemoryStream();
        var buffer = new byte[64 * 1024];
        int n;
        while ((n = await socket.ReceiveAsync(buffer, ct)) > 0)
            received.Write(buffer, 0, n);
        await socket.SendAsync(reply, ct);
        await socket.SendAsync(received.ToArray(), ct);
        socket.Shutdown(SocketShutdown.Send);
    });

    /// <summary>A TLS app with its own certificate: answers one line with "echo: " + the line.</summary>
    public static AppServer TlsEcho(X509Certificate2 certificate) => new(async (socket, ct) =>
    {
        await using var ssl = new SslStream(new NetworkStream(socket, ownsSocket: false));
        await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = certificate }, ct);
        using var reader = new StreamReader(ssl, leaveOpen: true);
        var line = await reader.ReadLineAsync(ct);
        await ssl.WriteAsync(Encoding.UTF8.GetBytes("echo: " + line + "\n"), ct);
        await ssl.FlushAsync(ct);
    });

    /// <summary>A throw-away self-signed server certificate, made here, never stored.</summary>
    public static X509Certificate2 SelfSigned(string dnsName)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=" + dnsName, key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(dnsName);
        request.CertificateExtensions.Add(san.Build());
        using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        return X509CertificateLoader.LoadPkcs12(cert.Export(X509ContentType.Pkcs12), null);
    }

    private async Task AcceptAsync(Func<Socket, CancellationToken, Task> handler)
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try { socket = await _listener.AcceptSocketAsync(_stop.Token); }
            catch (Exception) { return; }
            _ = Task.Run(async () =>
            {
                using (socket)
                {
                    try { await handler(socket, _stop.Token); }
                    catch (Exception) { /* the client sees what happened */ }
                }
            });
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        try { await _accepting; } catch (Exception) { }
        _stop.Dispose();
    }
}
