using System.Net.Http;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Weft.Integration.Harness;
using Weft.Integration.Mesh;

namespace Weft.Integration.Protocols;

/// <summary>
/// Real `weft control` and real `weft proxy` sidecars: a client sidecar with outbound ports for three
/// services, each served by an app behind its own sidecar, so every connection crosses two proxies.
///   mail:  a server-first (SMTP-like) app; its Service port declares no protocol (detected).
///   echo:  a half-close app; Service protocol tcp.
///   vault: a TLS app with its own certificate; Service protocol tls (passthrough by SNI).
/// </summary>
public sealed class ProtocolMesh : IAsyncLifetime
{
    public const string Banner = "220 mail.weft.test ESMTP ready\r\n";
    public static readonly byte[] EchoReply = "got it all:"u8.ToArray();
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(90);

    private readonly string _dir = Path.Combine(Path.GetTempPath(), "weft-protocols-" + Guid.NewGuid().ToString("N")[..8]);
    private readonly List<WeftProcess> _proxies = [];
    private WeftProcess? _control;

    public X509Certificate2 VaultCertificate { get; } = AppServer.SelfSigned("vault.default.svc.cluster.local");
    public AppServer Mail { get; } = AppServer.SmtpLike(Banner);
    public AppServer Echo { get; } = AppServer.AnswersAfterEof(EchoReply);
    public AppServer Vault { get; private set; } = null!;

    public int ApiPort { get; } = ShopMesh.FreePort();
    public int DiscoveryPort { get; } = ShopMesh.FreePort();
    public int ClientAdminPort { get; } = ShopMesh.FreePort();
    public int MailPort { get; } = ShopMesh.FreePort();
    public int EchoPort { get; } = ShopMesh.FreePort();
    public int VaultPort { get; } = ShopMesh.FreePort();

    public string ClientAdmin => $"http://127.0.0.1:{ClientAdminPort}";

    public async Task InitializeAsync()
    {
        Vault = AppServer.TlsEcho(VaultCertificate);
        Directory.CreateDirectory(_dir);
        _control = WeftProcess.Start(["control", "--data-dir", Path.Combine(_dir, "data"), "--api-port", ApiPort.ToString(),
            "--discovery-tls-port", ShopMesh.FreePort().ToString(), "--discovery-port", DiscoveryPort.ToString()]);
        await _control.WaitForLineAsync("control plane ready", Deadline);

        var services = Path.Combine(_dir, "services.yaml");
        await File.WriteAllTextAsync(services, """
            apiVersion: weft.dev/v1
            kind: Service
            metadata: { name: mail }
            spec:
              ports: [{ port: 2525 }]
            ---
            apiVersion: weft.dev/v1
            kind: Service
            metadata: { name: echo }
            spec:
              ports: [{ port: 7000, protocol: tcp }]
            ---
            apiVersion: weft.dev/v1
            kind: Service
            metadata: { name: vault }
            spec:
              ports: [{ port: 8443, protocol: tls }]
            """);
        var (code, output) = await WeftProcess.RunAsync(["apply", "-f", services, "--control", $"http://127.0.0.1:{ApiPort}"], Deadline);
        Assert.True(code == 0, output);

        var inbound = new Dictionary<string, int>();
        foreach (var (service, app, protocol) in new[] { ("mail", Mail.Port, "tcp"), ("echo", Echo.Port, "tcp"), ("vault", Vault.Port, "tls") })
        {
            inbound[service] = ShopMesh.FreePort();
            _proxies.Add(Sidecar(service, app, protocol, inbound[service], ShopMesh.FreePort()));
        }
        _proxies.Add(Sidecar("client", ShopMesh.FreePort(), "http", ShopMesh.FreePort(), ClientAdminPort,
            "--upstream", $"mail={MailPort}", "--upstream", $"echo={EchoPort}", "--upstream", $"vault={VaultPort}"));

        // Ready when the client sidecar knows every server sidecar as an endpoint.
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow + Deadline;
        var last = "";
        while (true)
        {
            try
            {
                last = await http.GetStringAsync(ClientAdmin + "/clusters");
                if (inbound.All(kv => HasEndpoint(last, "default/" + kv.Key, kv.Value))) return;
            }
            catch (HttpRequestException) { }
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException("the client sidecar never learned every endpoint; /clusters:\n" + last + "\n" +
                    string.Join("\n---\n", _proxies.Select(p => p.Output)));
            await Task.Delay(100);
        }
    }

    private WeftProcess Sidecar(string service, int appPort, string protocol, int inboundPort, int adminPort, params string[] extra) =>
        WeftProcess.Start(["proxy", "--service", service, "--instance", service + "-0", "--app-port", appPort.ToString(),
            "--app-protocol", protocol, "--inbound-port", inboundPort.ToString(), "--admin-port", adminPort.ToString(),
            "--control", $"http://127.0.0.1:{DiscoveryPort}", "--drain-seconds", "1",
            "--bootstrap-token-file", TokenFiles.Create(ApiPort, Path.Combine(_dir, "data"), service), .. extra]);

    private static bool HasEndpoint(string clusters, string cluster, int port)
    {
        foreach (var c in JsonDocument.Parse(clusters).RootElement.GetProperty("clusters").EnumerateArray())
        {
            if (c.GetProperty("name").GetString() != cluster) continue;
            foreach (var e in c.GetProperty("endpoints").EnumerateArray())
                if (e.GetProperty("port").GetInt32() == port) return true;
        }
        return false;
    }

    public async Task DisposeAsync()
    {
        foreach (var p in _proxies) await p.DisposeAsync();
        if (_control is not null) await _control.DisposeAsync();
        await Mail.DisposeAsync();
        await Echo.DisposeAsync();
        if (Vault is not null) await Vault.DisposeAsync();
        VaultCertificate.Dispose();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}
