using System.Security.Cryptography.X509Certificates;

namespace Weft.Proxy.Security;

/// <summary>
/// This workload's X.509-SVID as the CA issued it: the leaf with the private key the proxy made (in
/// memory only), the chain up to a root, and the trust bundle peers are checked against.
/// </summary>
public sealed record WorkloadCertificate(
    X509Certificate2 Leaf, X509Certificate2Collection Chain, X509Certificate2Collection TrustBundle, string SpiffeId)
{
    public DateTimeOffset NotBefore => new(Leaf.NotBefore.ToUniversalTime());
    public DateTimeOffset NotAfter => new(Leaf.NotAfter.ToUniversalTime());
    public TimeSpan Lifetime => NotAfter - NotBefore;
}

/// <summary>The certificate the proxy serves with now; swapped whole on renewal, so a reader sees one or the other.</summary>
public sealed class CertificateHolder
{
    private WorkloadCertificate? _current;

    public WorkloadCertificate? Current => Volatile.Read(ref _current);

    /// <summary>Raised after every swap (connections opened later use the new one; open ones keep theirs).</summary>
    public event Action<WorkloadCertificate>? Changed;

    public void Set(WorkloadCertificate certificate)
    {
        Volatile.Write(ref _current, certificate);
        Changed?.Invoke(certificate);
    }
}
