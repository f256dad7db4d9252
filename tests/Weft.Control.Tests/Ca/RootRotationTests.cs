using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Weft.Control.Ca;
using Weft.Control.Tests.Store;
using Weft.Model.Identity;

namespace Weft.Control.Tests.Ca;

/// <summary>
/// Root rotation in the CA (docs/security.md, "Root rotation"): the new root joins the bundle first,
/// the CA switches to it only once every connected proxy applied that bundle, and the old root leaves
/// the bundle only when no live certificate chains to it. Every step survives a restart.
/// </summary>
public sealed class RootRotationTests : IDisposable
{
    private static readonly SpiffeId Catalog = new("cluster.local", "default", "catalog");
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private CertificateAuthority Open() => CertificateAuthority.LoadOrCreate(_dir.Path, new CaOptions());

    private static IReadOnlyList<string> Nobody(long generation) => [];

    private static IssuedCertificate Issue(CertificateAuthority ca, string instance)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var csr = new CertificateRequest(new X500DistinguishedName(""), key, HashAlgorithmName.SHA256).CreateSigningRequestPem();
        return ca.Issue(csr, Catalog, instance: instance);
    }

    /// <summary>Whether the leaf chains to a root of <paramref name="roots"/> alone.</summary>
    private static bool ChainsTo(IssuedCertificate issued, IEnumerable<X509Certificate2> roots)
    {
        using var leaf = X509Certificate2.CreateFromPem(issued.CertificatePem);
        var intermediates = new X509Certificate2Collection();
        intermediates.ImportFromPem(issued.ChainPem);
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(roots.ToArray());
        chain.ChainPolicy.ExtraStore.AddRange(intermediates);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(leaf);
    }

    [Fact]
    public void A_rotation_adds_the_new_root_waits_for_every_proxy_switches_then_retires_the_old_root_once_nothing_chains_to_it()
    {
        using var ca = Open();
        var oldRoot = Assert.Single(ca.Roots);
        var before = Issue(ca, "catalog-0");
        var generation = ca.BundleGeneration;
        var changes = 0;
        ca.BundleChanged += () => changes++;

        var started = ca.StartRotation();
        Assert.Equal(RotationPhase.Distributing, started.Phase);
        Assert.Equal(2, ca.Roots.Count);
        Assert.Equal(2, CaFilesRoots().Count);
        Assert.True(ca.BundleGeneration > generation);
        // Still issuing under the old root: a proxy without the new bundle must still trust what others get.
        Assert.Equal(CertificateAuthority.Sha256(oldRoot), ca.IssuerRootSha256);
        Assert.True(ChainsTo(Issue(ca, "web-0"), [oldRoot]));
        Assert.Throws<CaException>(() => ca.StartRotation());

        // A connected proxy has not applied the bundle: no switch.
        var progress = ca.AdvanceRotation(_ => ["web-0"]);
        Assert.Equal(RotationPhase.Distributing, progress.State.Phase);
        Assert.Equal(["web-0"], progress.ProxiesWithoutBundle);

        // Every proxy has it: the CA issues under the new root.
        progress = ca.AdvanceRotation(Nobody);
        Assert.Equal(RotationPhase.Reissuing, progress.State.Phase);
        var newRoot = ca.Roots.Single(r => CertificateAuthority.Sha256(r) == progress.State.NewRoot);
        Assert.Equal(progress.State.NewRoot, ca.IssuerRootSha256);
        Assert.False(Directory.Exists(Path.Combine(_dir.Path, RotationState.NextFolder)));
        var renewed = Issue(ca, "catalog-0");
        Assert.True(ChainsTo(renewed, [newRoot]));
        Assert.False(ChainsTo(renewed, [oldRoot]));
        Assert.True(ChainsTo(before, ca.Roots), "a certificate of the old root must still be trusted while it lives");

        // web-0's newest certificate still chains to the old root: the old root stays.
        progress = ca.AdvanceRotation(Nobody);
        Assert.Equal(RotationPhase.Reissuing, progress.State.Phase);
        Assert.StartsWith("web-0 (spiffe://cluster.local/ns/default/sa/catalog)", Assert.Single(progress.LiveUnderOldRoot).Holder);

        Issue(ca, "web-0");
        progress = ca.AdvanceRotation(Nobody);
        Assert.Equal(RotationPhase.None, progress.State.Phase);
        Assert.NotNull(progress.State.FinishedAt);
        Assert.Equal(newRoot.Thumbprint, Assert.Single(ca.Roots).Thumbprint);
        Assert.Equal(newRoot.Thumbprint, Assert.Single(CaFilesRoots()).Thumbprint);
        Assert.Equal(3, changes);

        // And it all holds after a restart: the new root and intermediate are the CA's files now.
        using var again = Open();
        Assert.Equal(newRoot.Thumbprint, Assert.Single(again.Roots).Thumbprint);
        Assert.Equal(ca.Intermediate.Thumbprint, again.Intermediate.Thumbprint);
        Assert.True(ChainsTo(Issue(again, "x"), [newRoot]));
        foreach (var key in (string[])["root-key.pem", "ca-key.pem"])
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_dir.Path, key)));
    }

    /// <summary>
    /// A proxy presents its leaf alone to the discovery port: after the switch, its certificate of the old
    /// root must still be accepted (so it can renew), across a restart too, until the old root retires.
    /// </summary>
    [Fact]
    public void A_certificate_of_the_old_root_presented_alone_is_accepted_until_the_old_root_retires()
    {
        var (leaf, verify) = (default(X509Certificate2)!, default(Func<CertificateAuthority, SpiffeId?>)!);
        using (var ca = Open())
        {
            leaf = X509Certificate2.CreateFromPem(Issue(ca, "catalog-0").CertificatePem);
            verify = authority => authority.VerifyWorkload(leaf, null, DateTimeOffset.UtcNow, out _);
            Assert.Equal(Catalog, verify(ca));
            ca.StartRotation();
            ca.AdvanceRotation(Nobody);
            Assert.Equal(RotationPhase.Reissuing, ca.Rotation.Phase);
            Assert.Equal(Catalog, verify(ca));
        }
        using (var ca = Open())
        {
            Assert.Equal(Catalog, verify(ca));
            Issue(ca, "catalog-0");
            Assert.Equal(RotationPhase.None, ca.AdvanceRotation(Nobody).State.Phase);
            Assert.Null(verify(ca));
        }
        using (var ca = Open())
            Assert.Null(verify(ca));
        leaf.Dispose();
    }

    [Fact]
    public void A_start_cut_short_after_it_was_recorded_puts_the_new_root_in_the_bundle_at_the_next_start()
    {
        string newRoot;
        using (var ca = Open())
            newRoot = ca.StartRotation().NewRoot!;
        // As if the process died between recording the rotation and writing the bundle.
        var roots = CaFilesRoots();
        File.WriteAllText(Path.Combine(_dir.Path, "root-cert.pem"),
            string.Concat(roots.Where(r => CertificateAuthority.Sha256(r) != newRoot).Select(r => r.ExportCertificatePem() + "\n")));
        Assert.Single(CaFilesRoots());

        using var again = Open();
        Assert.Equal(2, again.Roots.Count);
        Assert.Contains(again.Roots, r => CertificateAuthority.Sha256(r) == newRoot);
    }

    [Fact]
    public void A_restart_in_any_phase_goes_on_where_the_rotation_was()
    {
        string newRoot;
        using (var ca = Open())
        {
            Issue(ca, "catalog-0");
            newRoot = ca.StartRotation().NewRoot!;
        }
        using (var ca = Open())
        {
            Assert.Equal(RotationPhase.Distributing, ca.Rotation.Phase);
            Assert.Equal(2, ca.Roots.Count);
            Assert.NotEqual(newRoot, ca.IssuerRootSha256);
            ca.AdvanceRotation(Nobody);
            Assert.Equal(newRoot, ca.IssuerRootSha256);
        }
        using (var ca = Open())
        {
            // The ledger too survived: catalog-0's certificate of the old root still lives.
            Assert.Equal(RotationPhase.Reissuing, ca.Rotation.Phase);
            Assert.Equal(newRoot, ca.IssuerRootSha256);
            Assert.StartsWith("catalog-0 ", Assert.Single(ca.AdvanceRotation(Nobody).LiveUnderOldRoot).Holder);
            Issue(ca, "catalog-0");
            Assert.Equal(RotationPhase.None, ca.AdvanceRotation(Nobody).State.Phase);
        }
    }

    [Fact]
    public void A_crash_in_the_middle_of_the_switch_is_finished_at_the_next_start()
    {
        string newRoot;
        using (var ca = Open())
            newRoot = ca.StartRotation().NewRoot!;
        // As if the process died after recording "switching" and copying only the root's key.
        var state = RotationState.Load(_dir.Path);
        (state with { Phase = RotationPhase.Switching }).Save(_dir.Path);
        File.Copy(Path.Combine(_dir.Path, RotationState.NextFolder, "root-key.pem"), Path.Combine(_dir.Path, "root-key.pem"), overwrite: true);

        using var again = Open();
        Assert.Equal(RotationPhase.Reissuing, again.Rotation.Phase);
        Assert.Equal(newRoot, again.IssuerRootSha256);
        Assert.False(Directory.Exists(Path.Combine(_dir.Path, RotationState.NextFolder)));
    }

    [Fact]
    public void An_operators_CA_is_not_rotated_by_Weft_and_the_error_says_how()
    {
        using (Open()) { }
        File.Delete(Path.Combine(_dir.Path, "root-key.pem"));
        using var ca = Open();
        var error = Assert.Throws<CaException>(() => ca.StartRotation());
        Assert.Contains("root-key.pem is absent", error.Message);
        Assert.Equal(RotationPhase.None, ca.Rotation.Phase);
    }

    private List<X509Certificate2> CaFilesRoots()
    {
        var roots = new X509Certificate2Collection();
        roots.ImportFromPemFile(Path.Combine(_dir.Path, "root-cert.pem"));
        return [.. roots];
    }
}
