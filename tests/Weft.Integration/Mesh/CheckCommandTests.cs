using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Weft.Integration.DataPlane;
using Weft.Integration.Harness;
using Xunit.Abstractions;

namespace Weft.Integration.Mesh;

/// <summary>
/// `weft check` against real control planes (docs/security.md, "Checking the mesh"): a healthy mesh
/// passes; a CA whose root and intermediate expire within 30 days is named, with the date and the fix.
/// </summary>
public sealed class CheckCommandTests(ITestOutputHelper log) : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "weft-check-" + Guid.NewGuid().ToString("N")[..8]);

    public void Dispose()
    {
        if (Directory.Exists(_dir))
            Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task A_healthy_mesh_passes_every_check()
    {
        await using var app = await TestApp.StartAsync();
        await using var mesh = await TwoSidecars.StartAsync([new ServerApp("web", app.Http1Port, "http")]);

        var (code, output) = await WeftProcess.RunAsync(["check", "--control", mesh.ControlUrl], TimeSpan.FromSeconds(30));
        log.WriteLine(output);
        Assert.True(code == 0, output);
        Assert.Matches(@"ok    root [0-9a-f]{16} \(.*\): valid until", output);
        Assert.Matches(@"ok    intermediate [0-9a-f]{16} \(.*\): valid until", output);
        Assert.Contains("ok    proxies: 2 of 2 connected, in sync, with certificates renewed on time", output);
        Assert.Contains("weft check: no problems found", output);

        // Seen from a window longer than its life, Weft's own CA needs rotating: the fix says how.
        (code, output) = await WeftProcess.RunAsync(["check", "--within", "4000d", "--control", mesh.ControlUrl], TimeSpan.FromSeconds(30));
        Assert.Equal(1, code);
        Assert.Matches(@"WARN  root [0-9a-f]{16} \(.*\): expires", output);
        Assert.Contains("fix: weft ca rotate brings in a new root and intermediate without an outage", output);
    }

    [Fact]
    public async Task A_proxy_that_went_away_is_named_and_no_control_plane_is_exit_2()
    {
        await using var app = await TestApp.StartAsync();
        await using var mesh = await TwoSidecars.StartAsync([new ServerApp("web", app.Http1Port, "http")]);
        await mesh.StopAsync(mesh.Server("web"));

        // The control plane hears of the stream's end a moment after the process exits.
        var (code, output) = (0, "");
        await Eventually.HoldsAsync(async () =>
        {
            (code, output) = await WeftProcess.RunAsync(["check", "--control", mesh.ControlUrl], TimeSpan.FromSeconds(30));
            return output.Contains("proxy web-0: disconnected", StringComparison.Ordinal);
        }, TimeSpan.FromSeconds(20), () => "weft check never named web-0 disconnected:\n" + output);
        log.WriteLine(output);
        Assert.Equal(1, code);
        Assert.Contains("WARN  proxy web-0: disconnected from the control plane", output);
        Assert.Contains("ok    proxies: 1 of 2 connected, in sync, with certificates renewed on time", output);

        (code, output) = await WeftProcess.RunAsync(["check", "--control", $"http://127.0.0.1:{ShopMesh.FreePort()}"], TimeSpan.FromSeconds(30));
        Assert.True(code == 2, output);
    }

    [Fact]
    public async Task A_CA_expiring_within_30_days_is_named_with_its_date_and_the_fix()
    {
        var caDir = Path.Combine(_dir, "ca");
        WriteOperatorCa(caDir, rootLife: TimeSpan.FromDays(20), intermediateLife: TimeSpan.FromDays(10));
        var api = ShopMesh.FreePort();
        await using var control = WeftProcess.Start(["control", "--data-dir", Path.Combine(_dir, "data"), "--ca-dir", caDir, "--api-port", api.ToString(),
            "--discovery-port", ShopMesh.FreePort().ToString(), "--discovery-tls-port", ShopMesh.FreePort().ToString()]);
        await control.WaitForLineAsync("control plane ready", TimeSpan.FromSeconds(60));

        var (code, output) = await WeftProcess.RunAsync(["check", "--control", $"http://127.0.0.1:{api}"], TimeSpan.FromSeconds(30));
        log.WriteLine(output);
        Assert.Equal(1, code);
        Assert.Matches(@"WARN  root [0-9a-f]{16} \(CN=test root\): expires \d{4}-\d\d-\d\d \d\d:\d\dZ, in 19d23h", output);
        Assert.Matches(@"WARN  intermediate [0-9a-f]{16} \(CN=test intermediate\): expires \d{4}-\d\d-\d\d \d\d:\d\dZ, in 9d23h", output);
        Assert.Contains("fix: this CA is your own: add the new root to root-cert.pem", output);
        Assert.Contains("weft check: 2 problems found", output);

        // A shorter window: nothing expires within it.
        (code, output) = await WeftProcess.RunAsync(["check", "--within", "5d", "--control", $"http://127.0.0.1:{api}"], TimeSpan.FromSeconds(30));
        Assert.True(code == 0, output);
    }

    /// <summary>An operator's CA in Istio's plug-in layout: a root and an intermediate of the given lives, ECDSA P-256.</summary>
    private static void WriteOperatorCa(string dir, TimeSpan rootLife, TimeSpan intermediateLife)
    {
        Directory.CreateDirectory(dir);
        var now = DateTimeOffset.UtcNow;
        using var rootKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var rootRequest = new CertificateRequest("CN=test root", rootKey, HashAlgorithmName.SHA256);
        rootRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 1, true));
        rootRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        rootRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(rootRequest.PublicKey, false));
        using var root = rootRequest.CreateSelfSigned(now.AddMinutes(-5), now + rootLife);
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=test intermediate", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        caRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(caRequest.PublicKey, false));
        using var intermediate = caRequest.Create(root, now.AddMinutes(-5), now + intermediateLife, [7, 1, 2, 3]);
        File.WriteAllText(Path.Combine(dir, "root-cert.pem"), root.ExportCertificatePem() + "\n");
        File.WriteAllText(Path.Combine(dir, "ca-cert.pem"), intermediate.ExportCertificatePem() + "\n");
        File.WriteAllText(Path.Combine(dir, "cert-chain.pem"), intermediate.ExportCertificatePem() + "\n" + root.ExportCertificatePem() + "\n");
        var key = Path.Combine(dir, "ca-key.pem");
        File.WriteAllText(key, caKey.ExportPkcs8PrivateKeyPem() + "\n");
        File.SetUnixFileMode(key, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }
}
