using Pb = Weft.Protocol.Discovery;

namespace Weft.Control.Ca;

/// <summary>
/// The trust bundle as every proxy receives it over discovery (key "trustbundle/mesh"): the CA's roots,
/// the root it issues under, and the generation a rotation waits to see applied. Made anew when the
/// CA's bundle changes; discovery pushes it like any config change.
/// </summary>
public sealed class TrustBundleSource
{
    private readonly CertificateAuthority _authority;
    private Pb.Resource _current;

    public TrustBundleSource(CertificateAuthority authority)
    {
        _authority = authority;
        _current = Build();
        authority.BundleChanged += () =>
        {
            Volatile.Write(ref _current, Build());
            Changed?.Invoke();
        };
    }

    public event Action? Changed;

    public Pb.Resource Current => Volatile.Read(ref _current);

    /// <summary>The generation of a trust bundle resource (0 when <paramref name="resource"/> is none).</summary>
    public static long GenerationOf(Pb.Resource? resource) => (long)(resource?.TrustBundle?.Generation ?? 0);

    private Pb.Resource Build() => new()
    {
        Name = Pb.ResourceKeys.TrustBundleName,
        TrustBundle = new Pb.TrustBundle
        {
            RootsPem = _authority.TrustBundlePem,
            IssuerRootSha256 = _authority.IssuerRootSha256,
            Generation = (ulong)_authority.BundleGeneration,
        },
    };
}
