using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Weft.Model.Identity;

namespace Weft.Control.Ca;

/// <summary>How the CA issues (MeshConfig sets the TTLs; docs/security.md, "Certificate authority").</summary>
public sealed record CaOptions
{
    public string TrustDomain { get; init; } = "cluster.local";

    /// <summary>Workload certificates live this long unless the request asks for less.</summary>
    public TimeSpan DefaultTtl { get; init; } = TimeSpan.FromHours(24);

    /// <summary>A request for longer is refused (MeshConfig cannot set a longer default: its binder has the same ceiling).</summary>
    public TimeSpan MaxTtl { get; init; } = TimeSpan.FromDays(90);
}

/// <summary>A workload certificate as issued: the leaf, then the chain up to (not including) a root, in PEM.</summary>
public sealed record IssuedCertificate(string CertificatePem, string ChainPem, DateTimeOffset NotBefore, DateTimeOffset NotAfter, string SerialNumber);

/// <summary>
/// The control plane's certificate authority. At first start it makes a root (ECDSA P-256, 10 years)
/// and an intermediate under it (5 years) in its folder; or it uses the root and intermediate an
/// operator put there. The intermediate signs X.509-SVIDs: exactly one URI SAN (the workload's SPIFFE
/// ID), CA false, digitalSignature, serverAuth and clientAuth. It issues only what it is asked for by
/// a caller that proved the identity (the caller checks that); it refuses CSRs that ask for a CA,
/// for other names, or for more time than the maximum, whatever else they say.
/// </summary>
public sealed class CertificateAuthority : IDisposable
{
    public static readonly TimeSpan RootLifetime = TimeSpan.FromDays(3650);
    public static readonly TimeSpan IntermediateLifetime = TimeSpan.FromDays(5 * 365);

    /// <summary>Workload certificates start this far in the past, so a peer whose clock is a little behind accepts them.</summary>
    private static readonly TimeSpan Backdate = TimeSpan.FromMinutes(1);

    private const string ServerAuth = "1.3.6.1.5.5.7.3.1";
    private const string ClientAuth = "1.3.6.1.5.5.7.3.2";

    private readonly X509Certificate2 _intermediate;
    private readonly ECDsa _key;
    private readonly X509Certificate2[] _chain;     // the intermediate, then any between it and a root
    private readonly CaOptions _options;
    private readonly TimeProvider _time;

    private CertificateAuthority(X509Certificate2[] roots, X509Certificate2[] chain, ECDsa key, CaOptions options, TimeProvider time)
    {
        Roots = roots;
        _rootCollection = [.. roots];
        _chain = chain;
        _intermediate = chain[0];
        _key = key;
        _options = options;
        _time = time;
    }

    /// <summary>The trust bundle: every root a workload certificate may chain to.</summary>
    public IReadOnlyList<X509Certificate2> Roots { get; }

    private readonly X509Certificate2Collection _rootCollection;

    /// <summary>
    /// The identity a workload certificate of this CA proves (chaining through this CA's intermediates,
    /// and what a TLS peer sent beside it in <paramref name="handshakeChain"/>), or null with the reason.
    /// </summary>
    public SpiffeId? VerifyWorkload(X509Certificate presented, X509Chain? handshakeChain, DateTimeOffset now, out string error) =>
        Svid.VerifyPresented(presented, handshakeChain, _chain, _rootCollection, _options.TrustDomain, now, out error);

    /// <summary>The trust bundle in PEM, as proxies get it.</summary>
    public string TrustBundlePem => string.Concat(Roots.Select(r => r.ExportCertificatePem() + "\n"));

    public X509Certificate2 Intermediate => _intermediate;


    public CaOptions Options => _options;

    /// <summary>The CA in <paramref name="dir"/>: the operator's, or Weft's own, made there at first start.</summary>
    public static CertificateAuthority LoadOrCreate(string dir, CaOptions options, TimeProvider? time = null)
    {
        time ??= TimeProvider.System;
        if (!SpiffeId.IsValidTrustDomain(options.TrustDomain))
            throw new CaException($"trust domain \"{options.TrustDomain}\": lower-case letters, digits, '.', '-', '_' only");
        if (!Directory.Exists(dir) || !Directory.EnumerateFileSystemEntries(dir).Any())
            CreateAtomically(dir, options.TrustDomain, time);
        return Load(dir, options, time);
    }

    /// <summary>
    /// Makes the CA in a folder beside <paramref name="dir"/> and renames it into place: a crash part way
    /// leaves only that folder (removed at the next start), never a CA folder with keys but no certificates.
    /// </summary>
    private static void CreateAtomically(string dir, string trustDomain, TimeProvider time)
    {
        var full = Path.GetFullPath(dir).TrimEnd(Path.DirectorySeparatorChar);
        var parent = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(parent);
        foreach (var leftover in Directory.EnumerateDirectories(parent, Path.GetFileName(full) + ".creating-*"))
            Directory.Delete(leftover, recursive: true);
        var staging = $"{full}.creating-{Guid.NewGuid():N}";
        Directory.CreateDirectory(staging);
        Create(staging, trustDomain, time);
        if (Directory.Exists(full))
            Directory.Delete(full);     // empty: checked by the caller
        Directory.Move(staging, full);
        Store.DurableFile.SyncDirectory(parent);
    }

    private static void Create(string dir, string trustDomain, TimeProvider time)
    {
        var now = time.GetUtcNow();
        using var rootKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var rootRequest = new CertificateRequest(new X500DistinguishedName($"O=Weft, CN=Weft root CA {trustDomain}"), rootKey, HashAlgorithmName.SHA256);
        AddCaExtensions(rootRequest, trustDomain, pathLength: 1);
        using var root = rootRequest.CreateSelfSigned(now.AddHours(-1), now + RootLifetime);

        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest(new X500DistinguishedName($"O=Weft, CN=Weft intermediate CA {trustDomain}"), caKey, HashAlgorithmName.SHA256);
        AddCaExtensions(caRequest, trustDomain, pathLength: 0);
        caRequest.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(root, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        using var intermediate = caRequest.Create(root, now.AddHours(-1), now + IntermediateLifetime, NewSerial());

        // Keys first: a certificate on disk without its key would make the next start fail.
        CaFiles.WriteKey(dir, CaFiles.RootKey, rootKey);
        CaFiles.WriteKey(dir, CaFiles.CaKey, caKey);
        CaFiles.WriteCertificates(dir, CaFiles.RootCert, [root]);
        CaFiles.WriteCertificates(dir, CaFiles.CertChain, [intermediate, root]);
        CaFiles.WriteCertificates(dir, CaFiles.CaCert, [intermediate]);
    }

    private static void AddCaExtensions(CertificateRequest request, string trustDomain, int pathLength)
    {
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, pathLength, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        // SPIFFE: a signing certificate may name its trust domain.
        var names = new SubjectAlternativeNameBuilder();
        names.AddUri(new Uri(SpiffeId.Scheme + trustDomain));
        request.CertificateExtensions.Add(names.Build());
    }

    private static CertificateAuthority Load(string dir, CaOptions options, TimeProvider time)
    {
        foreach (var name in (string[])[CaFiles.RootCert, CaFiles.CaCert, CaFiles.CaKey])
            if (!CaFiles.Exist(dir, name))
                throw new CaException($"{Path.Combine(dir, name)}: missing (a CA folder holds {CaFiles.RootCert}, {CaFiles.CaCert}, {CaFiles.CaKey} and {CaFiles.CertChain})");
        var roots = CaFiles.ReadCertificates(dir, CaFiles.RootCert);
        var intermediate = CaFiles.ReadCertificates(dir, CaFiles.CaCert)[0];
        var chain = CaFiles.Exist(dir, CaFiles.CertChain) ? CaFiles.ReadCertificates(dir, CaFiles.CertChain) : [intermediate];
        // cert-chain.pem runs from the intermediate to the root; what a peer needs is everything but the root.
        chain = [.. chain.Where(c => !roots.Any(r => r.RawDataMemory.Span.SequenceEqual(c.RawDataMemory.Span)))];
        if (chain.Length == 0 || !chain[0].RawDataMemory.Span.SequenceEqual(intermediate.RawDataMemory.Span))
            chain = [intermediate, .. chain.Where(c => !c.RawDataMemory.Span.SequenceEqual(intermediate.RawDataMemory.Span))];
        var key = CaFiles.ReadKey(dir, CaFiles.CaKey);
        using (var publicKey = intermediate.GetECDsaPublicKey())
        {
            if (publicKey is null || !publicKey.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(key.ExportSubjectPublicKeyInfo()))
            {
                key.Dispose();
                throw new CaException($"{Path.Combine(dir, CaFiles.CaKey)}: not the key of {Path.Combine(dir, CaFiles.CaCert)}");
            }
        }
        if (intermediate.Extensions.OfType<X509BasicConstraintsExtension>().FirstOrDefault() is not { CertificateAuthority: true })
        {
            key.Dispose();
            throw new CaException($"{Path.Combine(dir, CaFiles.CaCert)}: not a CA certificate (basicConstraints CA:TRUE)");
        }
        if (TrustDomainOf(intermediate) is { } named && named != options.TrustDomain)
        {
            key.Dispose();
            throw new CaException($"{Path.Combine(dir, CaFiles.CaCert)} names trust domain {named}, the MeshConfig says {options.TrustDomain}: "
                + "workload certificates would name one and be issued under the other (put the MeshConfig's trustDomain back, or give the CA a folder of its own for the new domain)");
        }
        var ca = new CertificateAuthority(roots, chain, key, options, time);
        ca.CheckChains(dir);
        return ca;
    }

    /// <summary>The trust domain a signing certificate names in a spiffe:// URI SAN (Weft's own do); null when it names none.</summary>
    private static string? TrustDomainOf(X509Certificate2 certificate)
    {
        if (certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().FirstOrDefault() is not { } names)
            return null;
        foreach (var name in Svid.DescribeNames(names))
            if (name.StartsWith("URI:" + SpiffeId.Scheme, StringComparison.Ordinal))
                return name[("URI:" + SpiffeId.Scheme).Length..].TrimEnd('/');
        return null;
    }

    /// <summary>The intermediate chains to a root of the bundle: otherwise every certificate issued would be refused by every peer.</summary>
    private void CheckChains(string dir)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(Roots.ToArray());
        chain.ChainPolicy.ExtraStore.AddRange(_chain);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationTime = _time.GetUtcNow().UtcDateTime;
        if (!chain.Build(_intermediate))
            throw new CaException($"{Path.Combine(dir, CaFiles.CaCert)} does not chain to a root of {Path.Combine(dir, CaFiles.RootCert)}: "
                + string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim())));
    }

    /// <summary>
    /// Signs a workload certificate for <paramref name="identity"/> over the key of <paramref name="csrPem"/>
    /// (whose signature proves the caller holds it). <paramref name="ttl"/> null: the default.
    /// Throws <see cref="CaException"/> with the reason for anything it refuses.
    /// </summary>
    public IssuedCertificate Issue(string csrPem, SpiffeId identity, TimeSpan? ttl = null)
    {
        if (identity.TrustDomain != _options.TrustDomain)
            throw new CaException($"{identity} is not of this CA's trust domain {_options.TrustDomain}");
        var lifetime = ttl ?? _options.DefaultTtl;
        if (lifetime <= TimeSpan.Zero || lifetime > _options.MaxTtl)
            throw new CaException($"a lifetime of {lifetime} is outside (0, {_options.MaxTtl}] (MeshConfig's maximum)");

        CertificateRequest csr;
        try
        {
            csr = CertificateRequest.LoadSigningRequestPem(csrPem, HashAlgorithmName.SHA256, CertificateRequestLoadOptions.UnsafeLoadCertificateExtensions);
        }
        catch (CryptographicException e)
        {
            throw new CaException($"the CSR is not a PEM PKCS#10 request with a valid signature: {e.Message}");
        }
        CheckRequest(csr, identity);

        var now = _time.GetUtcNow();
        var notBefore = now - Backdate;
        var notAfter = now + lifetime;
        if (notAfter > _intermediate.NotAfter.ToUniversalTime())
            notAfter = _intermediate.NotAfter.ToUniversalTime();

        // A new request over the CSR's key with our extensions only: nothing the caller asked for beyond its key is copied.
        var request = new CertificateRequest(new X500DistinguishedName(""), csr.PublicKey, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(ServerAuth), new Oid(ClientAuth)], false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(_intermediate, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        var names = new SubjectAlternativeNameBuilder();
        names.AddUri(new Uri(identity.ToString()));
        // An empty subject makes the SAN the certificate's only name: RFC 5280 has it critical then.
        request.CertificateExtensions.Add(names.Build(critical: true));

        var serial = NewSerial();
        using var leaf = request.Create(_intermediate.SubjectName, X509SignatureGenerator.CreateForECDsa(_key), notBefore, notAfter, serial);
        return new IssuedCertificate(leaf.ExportCertificatePem() + "\n", string.Concat(_chain.Select(c => c.ExportCertificatePem() + "\n")),
            notBefore, notAfter, Convert.ToHexString(serial));
    }

    /// <summary>The control plane's own identity: what its discovery port's TLS certificate names, and proxies check.</summary>
    public SpiffeId ControlPlaneIdentity => new(_options.TrustDomain, "weft-system", "weft-control");

    /// <summary>
    /// A serving certificate for the control plane's TLS discovery port, over a new key made here (in
    /// memory only): its SPIFFE ID, plus `localhost` and <paramref name="addresses"/> for clients that
    /// check a host name. The chain (the intermediates) goes with it.
    /// </summary>
    public (X509Certificate2 Leaf, X509Certificate2Collection Chain) IssueControlPlane(IEnumerable<System.Net.IPAddress> addresses, TimeSpan lifetime)
    {
        ArgumentNullException.ThrowIfNull(addresses);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var now = _time.GetUtcNow();
        var notAfter = now + lifetime < _intermediate.NotAfter.ToUniversalTime() ? now + lifetime : _intermediate.NotAfter.ToUniversalTime();
        var request = new CertificateRequest(new X500DistinguishedName("CN=weft-control"), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(ServerAuth)], false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(_intermediate, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        var names = new SubjectAlternativeNameBuilder();
        names.AddUri(new Uri(ControlPlaneIdentity.ToString()));
        names.AddDnsName("localhost");
        foreach (var address in addresses.Distinct())
            names.AddIpAddress(address);
        request.CertificateExtensions.Add(names.Build(critical: false));
        using var leaf = request.Create(_intermediate.SubjectName, X509SignatureGenerator.CreateForECDsa(_key), now - Backdate, notAfter, NewSerial());
        var chain = new X509Certificate2Collection();
        foreach (var c in _chain)
            chain.Add(X509CertificateLoader.LoadCertificate(c.RawData));
        return (leaf.CopyWithPrivateKey(key), chain);
    }

    /// <summary>What a CSR may ask for: a key of a kind peers accept, and no name or power beyond the identity's.</summary>
    private static void CheckRequest(CertificateRequest csr, SpiffeId identity)
    {
        switch (csr.PublicKey.Oid.Value)
        {
            case "1.2.840.10045.2.1":   // id-ecPublicKey
                using (var ec = csr.PublicKey.GetECDsaPublicKey())
                {
                    // The named curve itself, not its size: brainpool and secp256k1 are 256 bits too.
                    var curve = ec?.ExportParameters(false).Curve;
                    if (curve is not { IsNamed: true } named || named.Oid.Value is not ("1.2.840.10045.3.1.7" or "1.3.132.0.34"))
                        throw new CaException($"the CSR's key is on curve {curve?.Oid.FriendlyName ?? curve?.Oid.Value ?? "(explicit parameters)"}: NIST P-256 or P-384 only");
                }
                break;
            case "1.2.840.113549.1.1.1":   // rsaEncryption
                using (var rsa = csr.PublicKey.GetRSAPublicKey())
                {
                    if (rsa is null || rsa.KeySize < 2048)
                        throw new CaException($"the CSR's key is RSA of {rsa?.KeySize} bits: at least 2048");
                }
                break;
            default:
                throw new CaException($"the CSR's key is of algorithm {csr.PublicKey.Oid.Value}: ECDSA P-256/P-384 or RSA only");
        }
        foreach (var extension in csr.CertificateExtensions)
        {
            switch (extension)
            {
                case X509BasicConstraintsExtension { CertificateAuthority: true }:
                    throw new CaException("the CSR asks for a CA certificate (basicConstraints CA:TRUE): workloads get leaf certificates only");
                case X509SubjectAlternativeNameExtension names:
                    var asked = Svid.DescribeNames(names);
                    if (asked.Count != 1 || asked[0] != "URI:" + identity)
                        throw new CaException($"the CSR asks for the names [{string.Join(", ", asked)}]: a workload certificate names exactly its own SPIFFE ID, {identity}");
                    break;
            }
        }
    }

    /// <summary>A positive 128-bit serial number.</summary>
    private static byte[] NewSerial()
    {
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        serial[0] |= 0x01;
        return serial;
    }

    public void Dispose()
    {
        _key.Dispose();
        foreach (var c in _chain) c.Dispose();
        foreach (var r in Roots) r.Dispose();
    }
}
