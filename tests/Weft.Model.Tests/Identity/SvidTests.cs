using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Weft.Model.Identity;

namespace Weft.Model.Tests.Identity;

/// <summary>What a peer's certificate must be to be believed (Svid.Verify), with certificates made here by a CA of the test's own.</summary>
public sealed class SvidTests : IDisposable
{
    private static readonly DateTimeOffset Now = DateTimeOffset.UtcNow;
    private readonly ECDsa _caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly X509Certificate2 _root;
    private readonly X509Certificate2Collection _roots;

    public SvidTests()
    {
        var request = new CertificateRequest("CN=test root", _caKey, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        _root = request.CreateSelfSigned(Now.AddDays(-1), Now.AddDays(30));
        _roots = [_root];
    }

    public void Dispose()
    {
        _root.Dispose();
        _caKey.Dispose();
    }

    private X509Certificate2 Leaf(string[] uris, bool ca = false, DateTimeOffset? notAfter = null, X509Certificate2? issuer = null)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName(""), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(ca, false, 0, true));
        var names = new SubjectAlternativeNameBuilder();
        foreach (var uri in uris) names.AddUri(new Uri(uri));
        if (uris.Length > 0) request.CertificateExtensions.Add(names.Build(critical: true));
        return request.Create(issuer ?? _root, Now.AddHours(-2), notAfter ?? Now.AddHours(1), [7, 7, 7, 7]);
    }

    [Fact]
    public void A_leaf_of_the_trust_domain_that_chains_to_a_root_proves_its_spiffe_id()
    {
        using var leaf = Leaf(["spiffe://cluster.local/ns/shop/sa/catalog"]);
        Assert.Equal(new SpiffeId("cluster.local", "shop", "catalog"), Svid.Verify(leaf, [], _roots, "cluster.local", Now, out var error));
        Assert.Equal("", error);
    }

    [Theory]
    [InlineData(new[] { "spiffe://cluster.local/ns/a/sa/b", "spiffe://cluster.local/ns/a/sa/c" }, false, "names 2 URIs")]
    [InlineData(new string[0], false, "names 0 URIs")]
    [InlineData(new[] { "spiffe://cluster.local/ns/a/sa/b" }, true, "CA:TRUE")]
    [InlineData(new[] { "spiffe://cluster.local/a/b" }, false, "no SPIFFE ID of Weft's")]
    [InlineData(new[] { "https://cluster.local/ns/a/sa/b" }, false, "no SPIFFE ID of Weft's")]
    [InlineData(new[] { "spiffe://other.domain/ns/a/sa/b" }, false, "is not of trust domain cluster.local")]
    public void A_leaf_that_is_no_workloads_svid_is_refused(string[] uris, bool ca, string reason)
    {
        using var leaf = Leaf(uris, ca);
        Assert.Null(Svid.Verify(leaf, [], _roots, "cluster.local", Now, out var error));
        Assert.Contains(reason, error);
    }

    [Fact]
    public void An_expired_leaf_is_refused()
    {
        using var leaf = Leaf(["spiffe://cluster.local/ns/a/sa/b"], notAfter: Now.AddMinutes(-1));
        Assert.Null(Svid.Verify(leaf, [], _roots, "cluster.local", Now, out var error));
        Assert.NotEqual("", error);
    }

    [Fact]
    public void A_leaf_from_another_CA_with_the_same_trust_domain_is_refused()
    {
        using var otherKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=test root", otherKey, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        using var other = request.CreateSelfSigned(Now.AddDays(-1), Now.AddDays(30));
        using var leaf = Leaf(["spiffe://cluster.local/ns/a/sa/b"], issuer: other);
        Assert.Null(Svid.Verify(leaf, [other], _roots, "cluster.local", Now, out var error));
        Assert.NotEqual("", error);
    }
}
