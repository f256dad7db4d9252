using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Weft.Proxy.Security;

namespace Weft.Proxy.Tests.Support;

/// <summary>
/// A mesh CA of the tests' own (a root, an intermediate) issuing X.509-SVIDs the way the control plane's
/// does, so in-process proxies hold real certificates and speak real mTLS to each other.
/// </summary>
public sealed class TestCertificates : IDisposable
{
    /// <summary>One CA for the whole test run: proxies of different tests trust each other's certificates.</summary>
    public static readonly TestCertificates Mesh = new("cluster.local");

    private readonly ECDsa _rootKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly ECDsa _intermediateKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);

    public TestCertificates(string trustDomain)
    {
        TrustDomain = trustDomain;
        var now = DateTimeOffset.UtcNow;
        var rootRequest = new CertificateRequest("CN=weft test root", _rootKey, HashAlgorithmName.SHA256);
        rootRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 1, true));
        rootRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        rootRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(rootRequest.PublicKey, false));
        Root = rootRequest.CreateSelfSigned(now.AddDays(-1), now.AddYears(1));
        var intermediateRequest = new CertificateRequest("CN=weft test intermediate", _intermediateKey, HashAlgorithmName.SHA256);
        intermediateRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        intermediateRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        intermediateRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(intermediateRequest.PublicKey, false));
        using var intermediate = intermediateRequest.Create(Root, now.AddDays(-1), now.AddMonths(6), [1, 2, 3, 5]);
        Intermediate = intermediate.CopyWithPrivateKey(_intermediateKey);
    }

    public string TrustDomain { get; }
    public X509Certificate2 Root { get; }
    public X509Certificate2 Intermediate { get; }

    /// <summary>A workload certificate for ns/<paramref name="ns"/>/sa/<paramref name="serviceAccount"/>, as the CA issues one.</summary>
    public WorkloadCertificate Issue(string serviceAccount, string ns = "default", TimeSpan? lifetime = null, DateTimeOffset? notBefore = null,
        Action<CertificateRequest, SubjectAlternativeNameBuilder>? tamper = null)
    {
        var id = $"spiffe://{TrustDomain}/ns/{ns}/sa/{serviceAccount}";
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName(""), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
        var names = new SubjectAlternativeNameBuilder();
        names.AddUri(new Uri(id));
        tamper?.Invoke(request, names);
        request.CertificateExtensions.Add(names.Build(critical: true));
        var start = notBefore ?? DateTimeOffset.UtcNow.AddMinutes(-1);
        using var leaf = request.Create(Intermediate, start, start + (lifetime ?? TimeSpan.FromHours(24)), RandomNumberGenerator.GetBytes(8));
        var intermediates = new X509Certificate2Collection { X509CertificateLoader.LoadCertificate(Intermediate.RawData) };
        var bundle = new X509Certificate2Collection { X509CertificateLoader.LoadCertificate(Root.RawData) };
        return new WorkloadCertificate(leaf.CopyWithPrivateKey(key), intermediates, bundle, id);
    }

    public void Dispose()
    {
        Root.Dispose();
        Intermediate.Dispose();
        _rootKey.Dispose();
        _intermediateKey.Dispose();
    }
}
