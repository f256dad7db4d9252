using System.Diagnostics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Weft.Control.Ca;
using Weft.Control.Tests.Store;
using Weft.Model.Identity;

namespace Weft.Control.Tests.Ca;

/// <summary>
/// The CA makes its root and intermediate once, keeps keys owner-only, and signs only leaf SVIDs for
/// the identity it is given. Issued chains are checked by .NET's chain builder and by openssl.
/// </summary>
public sealed class CertificateAuthorityTests : IDisposable
{
    private static readonly SpiffeId Catalog = new("cluster.local", "default", "catalog");
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private CertificateAuthority Open(CaOptions? options = null) => CertificateAuthority.LoadOrCreate(_dir.Path, options ?? new CaOptions());

    /// <summary>A workload's CSR as the proxy makes it: a P-256 key in memory, its SPIFFE ID as the one SAN (or none).</summary>
    private static string Csr(ECDsa key, Action<CertificateRequest>? extra = null, string? san = "spiffe://cluster.local/ns/default/sa/catalog")
    {
        var request = new CertificateRequest(new X500DistinguishedName(""), key, HashAlgorithmName.SHA256);
        if (san is not null)
        {
            var names = new SubjectAlternativeNameBuilder();
            names.AddUri(new Uri(san));
            request.CertificateExtensions.Add(names.Build(critical: true));
        }
        extra?.Invoke(request);
        return request.CreateSigningRequestPem();
    }

    [Fact]
    public void First_start_makes_a_P256_root_of_ten_years_and_an_intermediate_with_keys_readable_by_the_owner_only()
    {
        using var ca = Open();
        var root = Assert.Single(ca.Roots);
        Assert.Equal(256, root.GetECDsaPublicKey()!.KeySize);
        Assert.InRange((root.NotAfter - root.NotBefore).TotalDays, 3650, 3651);
        Assert.True(root.Extensions.OfType<X509BasicConstraintsExtension>().Single().CertificateAuthority);
        Assert.True(ca.Intermediate.Extensions.OfType<X509BasicConstraintsExtension>().Single().CertificateAuthority);
        Assert.Equal(root.SubjectName.Name, ca.Intermediate.IssuerName.Name);
        foreach (var key in (string[])["root-key.pem", "ca-key.pem"])
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_dir.Path, key)));

        // The next start uses what is there.
        using var again = Open();
        Assert.Equal(root.Thumbprint, Assert.Single(again.Roots).Thumbprint);
        Assert.Equal(ca.Intermediate.Thumbprint, again.Intermediate.Thumbprint);
    }

    [Fact]
    public void An_issued_certificate_is_a_leaf_svid_for_exactly_the_identity_that_chains_to_the_root()
    {
        using var ca = Open();
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var issued = ca.Issue(Csr(key), Catalog);
        using var leaf = X509Certificate2.CreateFromPem(issued.CertificatePem);

        var names = leaf.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single();
        Assert.True(names.Critical);
        Assert.Empty(names.EnumerateDnsNames());
        Assert.Contains("spiffe://cluster.local/ns/default/sa/catalog", leaf.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single().Format(false));
        Assert.False(leaf.Extensions.OfType<X509BasicConstraintsExtension>().Single().CertificateAuthority);
        Assert.Equal(X509KeyUsageFlags.DigitalSignature, leaf.Extensions.OfType<X509KeyUsageExtension>().Single().KeyUsages);
        var usages = leaf.Extensions.OfType<X509EnhancedKeyUsageExtension>().Single().EnhancedKeyUsages.Cast<Oid>().Select(o => o.Value).ToArray();
        Assert.Equal(["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"], usages);
        Assert.InRange((leaf.NotAfter - DateTime.Now).TotalHours, 23.9, 24.0);
        Assert.Equal(key.ExportSubjectPublicKeyInfo(), leaf.GetECDsaPublicKey()!.ExportSubjectPublicKeyInfo());

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(ca.Roots.ToArray());
        var intermediates = new X509Certificate2Collection();
        intermediates.ImportFromPem(issued.ChainPem);
        chain.ChainPolicy.ExtraStore.AddRange(intermediates);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        Assert.True(chain.Build(leaf), string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation)));
        Assert.Equal(3, chain.ChainElements.Count);
    }

    [OpensslFact]
    public async Task Openssl_verifies_an_issued_chain_for_client_and_server_use()
    {
        using var ca = Open();
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var issued = ca.Issue(Csr(key, san: null), Catalog);
        var leaf = Path.Combine(_dir.Path, "leaf.pem");
        var chain = Path.Combine(_dir.Path, "chain.pem");
        await File.WriteAllTextAsync(leaf, issued.CertificatePem);
        await File.WriteAllTextAsync(chain, issued.ChainPem);
        foreach (var purpose in (string[])["sslclient", "sslserver"])
        {
            var (code, output) = await RunAsync("openssl", "verify", "-purpose", purpose, "-CAfile", Path.Combine(_dir.Path, "root-cert.pem"), "-untrusted", chain, leaf);
            Assert.True(code == 0, output);
            Assert.Contains(": OK", output);
        }
    }

    [Fact]
    public void A_csr_asking_for_a_ca_certificate_is_refused()
    {
        using var ca = Open();
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var e = Assert.Throws<CaException>(() => ca.Issue(Csr(key, r => r.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true))), Catalog));
        Assert.Contains("CA:TRUE", e.Message);
    }

    [Theory]
    [InlineData("spiffe://cluster.local/ns/default/sa/payments")]
    [InlineData("spiffe://other.domain/ns/default/sa/catalog")]
    public void A_csr_naming_another_identity_is_refused(string san)
    {
        using var ca = Open();
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var e = Assert.Throws<CaException>(() => ca.Issue(Csr(key, san: san), Catalog));
        Assert.Contains(san, e.Message);
    }

    [Fact]
    public void A_csr_with_extra_names_is_refused()
    {
        using var ca = Open();
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var csr = Csr(key, san: null, extra: r =>
        {
            var names = new SubjectAlternativeNameBuilder();
            names.AddUri(new Uri("spiffe://cluster.local/ns/default/sa/catalog"));
            names.AddUri(new Uri("spiffe://cluster.local/ns/default/sa/payments"));
            names.AddDnsName("payments.default.svc");
            r.CertificateExtensions.Add(names.Build());
        });
        var e = Assert.Throws<CaException>(() => ca.Issue(csr, Catalog));
        Assert.Contains("DNS:payments.default.svc", e.Message);
        Assert.Contains("sa/payments", e.Message);
    }

    [Fact]
    public void A_lifetime_above_the_maximum_is_refused_and_one_below_is_honoured()
    {
        using var ca = Open(new CaOptions { MaxTtl = TimeSpan.FromHours(48) });
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        Assert.Contains("outside", Assert.Throws<CaException>(() => ca.Issue(Csr(key), Catalog, TimeSpan.FromHours(49))).Message);
        var issued = ca.Issue(Csr(key), Catalog, TimeSpan.FromMinutes(1));
        Assert.InRange((issued.NotAfter - DateTimeOffset.UtcNow).TotalSeconds, 50, 61);
    }

    [Fact]
    public void A_key_on_another_256_bit_curve_is_refused()
    {
        using var ca = Open();
        using var key = ECDsa.Create(ECCurve.NamedCurves.brainpoolP256r1);
        Assert.Contains("NIST P-256 or P-384 only", Assert.Throws<CaException>(() => ca.Issue(Csr(key), Catalog)).Message);
    }

    [Fact]
    public void A_ca_made_for_one_trust_domain_refuses_to_serve_another()
    {
        using (Open()) { }
        var e = Assert.Throws<CaException>(() => Open(new CaOptions { TrustDomain = "example.org" }));
        Assert.Contains("names trust domain cluster.local, the MeshConfig says example.org", e.Message);
    }

    [Fact]
    public void A_creation_cut_short_leaves_nothing_the_next_start_trips_on()
    {
        // What a crash during the first start leaves: the folder being made, beside the CA's.
        var caDir = Path.Combine(_dir.Path, "ca");
        var leftover = Directory.CreateDirectory(caDir + ".creating-0123").FullName;
        File.WriteAllText(Path.Combine(leftover, "root-key.pem"), "partial");
        using var ca = CertificateAuthority.LoadOrCreate(caDir, new CaOptions());
        Assert.False(Directory.Exists(leftover));
        Assert.True(File.Exists(Path.Combine(caDir, "ca-cert.pem")));
    }

    [Fact]
    public void A_csr_whose_signature_does_not_match_its_key_is_refused()
    {
        using var ca = Open();
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var der = Convert.FromBase64String(string.Concat(Csr(key).Split('\n').Where(l => !l.StartsWith("-----", StringComparison.Ordinal))));
        der[^3] ^= 0x55;    // inside the signature
        var tampered = PemEncoding.WriteString("CERTIFICATE REQUEST", der);
        Assert.Contains("valid signature", Assert.Throws<CaException>(() => ca.Issue(tampered, Catalog)).Message);
    }

    [Fact]
    public void An_operators_root_and_intermediate_are_used_as_they_are()
    {
        // The operator's own: a root and an intermediate made elsewhere (here by a first CA in another folder).
        using var elsewhere = new TempDir();
        using (CertificateAuthority.LoadOrCreate(elsewhere.Path, new CaOptions())) { }
        foreach (var file in (string[])["root-cert.pem", "ca-cert.pem", "ca-key.pem", "cert-chain.pem"])
            File.Copy(Path.Combine(elsewhere.Path, file), Path.Combine(_dir.Path, file));
        File.SetUnixFileMode(Path.Combine(_dir.Path, "ca-key.pem"), UnixFileMode.UserRead | UnixFileMode.UserWrite);

        using var ca = Open();
        Assert.False(File.Exists(Path.Combine(_dir.Path, "root-key.pem")));
        Assert.Equal(File.ReadAllText(Path.Combine(elsewhere.Path, "root-cert.pem")), ca.TrustBundlePem);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var leaf = X509Certificate2.CreateFromPem(ca.Issue(Csr(key), Catalog).CertificatePem);
        Assert.Equal(ca.Intermediate.SubjectName.Name, leaf.IssuerName.Name);
    }

    [Fact]
    public void A_ca_key_others_can_read_or_that_is_not_the_certificates_is_an_error_naming_the_file()
    {
        using (Open()) { }
        var keyPath = Path.Combine(_dir.Path, "ca-key.pem");
        File.SetUnixFileMode(keyPath, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        Assert.Contains("chmod 600", Assert.Throws<CaException>(() => Open()).Message);

        File.SetUnixFileMode(keyPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        using var other = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        File.WriteAllText(keyPath, other.ExportPkcs8PrivateKeyPem());
        var e = Assert.Throws<CaException>(() => Open());
        Assert.Contains(keyPath, e.Message);
        Assert.Contains("not the key of", e.Message);
    }

    private static async Task<(int Code, string Output)> RunAsync(string file, params string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        return (process.ExitCode, await stdout + await stderr);
    }
}

/// <summary>A fact that needs the openssl command; skipped with the reason where it is missing (./test.sh installs it).</summary>
public sealed class OpensslFactAttribute : FactAttribute
{
    public OpensslFactAttribute()
    {
        if (!(Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => File.Exists(Path.Combine(d, "openssl"))))
            Skip = "openssl is not installed (./test.sh installs it)";
    }
}
