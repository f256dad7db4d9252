using System.Security.Cryptography.X509Certificates;

namespace Weft.Proxy.Security;

/// <summary>
/// This workload's X.509-SVID as the CA issued it: the leaf with the private key the proxy made (in
/// memory only), the chain up to a root, and the trust bundle peers are checked against.
/// </summary>
/// <param name="IssuerRootSha256">The root the leaf chains to, as the CA said ("" when unknown): a bundle naming another issuing root means renew now.</param>
public sealed record WorkloadCertificate(
    X509Certificate2 Leaf, X509Certificate2Collection Chain, X509Certificate2Collection TrustBundle, string SpiffeId, string IssuerRootSha256 = "")
{
    public DateTimeOffset NotBefore => new(Leaf.NotBefore.ToUniversalTime());
    public DateTimeOffset NotAfter => new(Leaf.NotAfter.ToUniversalTime());
    public TimeSpan Lifetime => NotAfter - NotBefore;
}

/// <summary>
/// The trust bundle as discovery delivers it (docs/security.md, "Root rotation"): the roots peers'
/// certificates must chain to, and the root the CA issues under now.
/// </summary>
public sealed record MeshTrustBundle(X509Certificate2Collection Roots, string IssuerRootSha256, long Generation);

/// <summary>
/// The certificate the proxy serves with now, and the trust bundle it checks peers with: swapped whole
/// (on renewal, or when discovery brings a new bundle), so a reader sees one state or the other.
/// </summary>
public sealed class CertificateHolder
{
    private readonly Lock _gate = new();
    private WorkloadCertificate? _current;
    private MeshTrustBundle? _bundle;

    public WorkloadCertificate? Current => Volatile.Read(ref _current);

    /// <summary>The bundle discovery delivered last; null until the first (the certificate's own bundle serves meanwhile).</summary>
    public MeshTrustBundle? Bundle => Volatile.Read(ref _bundle);

    /// <summary>Raised after every swap (connections opened later use the new one; open ones keep theirs).</summary>
    public event Action<WorkloadCertificate>? Changed;

    /// <summary>Raised after discovery delivered a bundle of another generation.</summary>
    public event Action<MeshTrustBundle>? BundleChanged;

    /// <summary>A new certificate; the bundle discovery delivered, when there is one, is what it checks peers with.</summary>
    public void Set(WorkloadCertificate certificate)
    {
        lock (_gate)
        {
            if (_bundle is { } bundle)
                certificate = certificate with { TrustBundle = bundle.Roots };
            Volatile.Write(ref _current, certificate);
        }
        Changed?.Invoke(certificate);
    }

    /// <summary>A bundle from discovery: peers are checked against it from now on.</summary>
    public void SetBundle(MeshTrustBundle bundle)
    {
        WorkloadCertificate? updated = null;
        lock (_gate)
        {
            // Only a newer bundle replaces the one held: an older one arriving late is ignored.
            if (_bundle is { } held && held.Generation >= bundle.Generation)
                return;
            Volatile.Write(ref _bundle, bundle);
            if (_current is { } current)
            {
                updated = current with { TrustBundle = bundle.Roots };
                Volatile.Write(ref _current, updated);
            }
        }
        if (updated is not null)
            Changed?.Invoke(updated);
        BundleChanged?.Invoke(bundle);
    }
}
