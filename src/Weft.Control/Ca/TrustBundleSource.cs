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
    private readonly Lock _gate = new();
    private Pb.Resource _current;

    public TrustBundleSource(CertificateAuthority authority)
    {
        _authority = authority;
        _current = Build();
        authority.BundleChanged += () =>
        {
            // Two changes racing (the API's start, the timer's step) must not leave the older last.
            var next = Build();
            lock (_gate)
            {
                if (GenerationOf(next) <= GenerationOf(_current))
                    return;
                Volatile.Write(ref _current, next);
            }
            Changed?.Invoke();
        };
    }

    public event Action? Changed;

    public Pb.Resource Current => Volatile.Read(ref _current);

    /// <summary>The generation of a trust bundle resource (0 when <paramref name="resource"/> is none).</summary>
    public static long GenerationOf(Pb.Resource? resource) => (long)(resource?.TrustBundle?.Generation ?? 0);

    private Pb.Resource Build()
    {
        var (pem, issuer, generation) = _authority.BundleSnapshot();
        return new Pb.Resource
        {
            Name = Pb.ResourceKeys.TrustBundleName,
            TrustBundle = new Pb.TrustBundle { RootsPem = pem, IssuerRootSha256 = issuer, Generation = (ulong)generation },
        };
    }
}
