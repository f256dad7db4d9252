using System.Diagnostics;
using System.Net;
using System.Net.Http;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Xunit.Abstractions;

namespace Weft.Integration.Protocols;

/// <summary>
/// Protocols end to end through real processes: each connection goes client -> client sidecar
/// (outbound) -> server sidecar (inbound) -> app, and the proxies only ever see opaque bytes.
/// </summary>
public sealed class ProtocolMeshTests(ProtocolMesh mesh, ITestOutputHelper log) : IClassFixture<ProtocolMesh>
{
    /// <summary>The detection window of an undeclared port (the proxy's default).</summary>
    private static readonly TimeSpan Window = TimeSpan.FromMilliseconds(100);

    [Fact]
    public async Task A_server_first_protocol_on_an_undeclared_port_gets_its_banner_after_the_detection_window_only()
    {
        // The first connection warms every process's code paths; the second is the one measured.
        (await BannerAsync()).Client.Dispose();
        var (banner, elapsed, client) = await BannerAsync();
        using (client)
        {
            log.WriteLine($"banner after {elapsed.TotalMilliseconds:F0} ms through two sidecars");
            Assert.Equal(ProtocolMesh.Banner, banner);
            Assert.True(elapsed >= Window * 0.8, $"banner after {elapsed}: before the window ended, so nothing was detected?");
            Assert.True(elapsed < Window + TimeSpan.FromSeconds(1), $"banner after {elapsed}: far beyond the {Window} window");
            await client.SendAsync("EHLO client.weft.test\r\n"u8.ToArray());
            Assert.Equal("250 EHLO client.weft.test\r\n", Encoding.ASCII.GetString(await ReadAsync(client, 27)));
        }
        var metrics = await new HttpClient().GetStringAsync(mesh.ClientAdmin + "/stats/prometheus");
        Assert.Matches("weft_protocol_detection_total\\{listener=\"listener/outbound/mail\",outcome=\"timeout\"\\} [1-9]", metrics);
    }

    [Fact]
    public async Task Tcp_crosses_two_sidecars_byte_exact_and_half_close_lets_the_reply_come_back()
    {
        var request = RandomNumberGenerator.GetBytes(1024 * 1024);
        using var client = await ConnectAsync(mesh.EchoPort);
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await client.SendAsync(request, SocketFlags.None, deadline.Token);
        // The app answers only after our FIN reached it through both sidecars.
        client.Shutdown(SocketShutdown.Send);
        var answer = await ReadToEndAsync(client);
        Assert.Equal(ProtocolMesh.EchoReply.Length + request.Length, answer.Length);
        Assert.True(answer.AsSpan().SequenceEqual([.. ProtocolMesh.EchoReply, .. request]), "the reply differs from what the app sent");

        var metrics = await new HttpClient().GetStringAsync(mesh.ClientAdmin + "/stats/prometheus");
        Assert.Matches($"weft_tcp_received_bytes_total\\{{listener_port=\"{mesh.EchoPort}\"\\}} [1-9]", metrics);
    }

    [Theory]
    [InlineData("vault")]
    [InlineData("vault.default")]
    [InlineData("vault.default.svc.cluster.local")]
    public async Task Tls_passes_through_both_sidecars_by_sni_and_the_client_sees_the_apps_certificate(string serverName)
    {
        var (thumbprint, line) = await TlsRoundTripAsync(serverName);
        Assert.Equal(mesh.VaultCertificate.Thumbprint, thumbprint);
        Assert.Equal("echo: hello " + serverName, line);
    }

    [Fact]
    public async Task Tls_for_a_name_the_service_does_not_have_is_refused_and_counted()
    {
        await Assert.ThrowsAnyAsync<Exception>(() => TlsRoundTripAsync("somebody-else.example"));
        var metrics = await new HttpClient().GetStringAsync(mesh.ClientAdmin + "/stats/prometheus");
        Assert.Matches("weft_tls_sni_rejected_total\\{listener=\"listener/outbound/vault\",reason=\"no_match\"\\} [1-9]", metrics);
    }

    private async Task<(string Banner, TimeSpan Elapsed, Socket Client)> BannerAsync()
    {
        var started = Stopwatch.StartNew();
        var client = await ConnectAsync(mesh.MailPort);
        var banner = Encoding.ASCII.GetString(await ReadAsync(client, ProtocolMesh.Banner.Length));
        return (banner, started.Elapsed, client);
    }

    private async Task<(string? Thumbprint, string? Line)> TlsRoundTripAsync(string serverName)
    {
        using var socket = await ConnectAsync(mesh.VaultPort);
        string? seen = null;
        await using var ssl = new SslStream(new NetworkStream(socket, ownsSocket: false));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = serverName,
            // The app's throw-away certificate: the test checks it is that one, not a chain.
            RemoteCertificateValidationCallback = (_, certificate, _, _) =>
            {
                seen = certificate is null ? null : new X509Certificate2(certificate).Thumbprint;
                return true;
            },
        }, cts.Token);
        await ssl.WriteAsync(Encoding.UTF8.GetBytes("hello " + serverName + "\n"), cts.Token);
        await ssl.FlushAsync(cts.Token);
        using var reader = new StreamReader(ssl, leaveOpen: true);
        return (seen, await reader.ReadLineAsync(cts.Token));
    }

    private static async Task<Socket> ConnectAsync(int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(IPAddress.Loopback, port);
        return socket;
    }

    private static async Task<byte[]> ReadAsync(Socket socket, int count)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        var buffer = new byte[count];
        var read = 0;
        while (read < count)
        {
            var n = await socket.ReceiveAsync(buffer.AsMemory(read), SocketFlags.None, cts.Token);
            if (n == 0) break;
            read += n;
        }
        return buffer[..read];
    }

    private static async Task<byte[]> ReadToEndAsync(Socket socket)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var all = new MemoryStream();
        var buffer = new byte[64 * 1024];
        int n;
        while ((n = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token)) > 0)
            all.Write(buffer, 0, n);
        return all.ToArray();
    }
}
