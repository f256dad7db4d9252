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
public sealed record IssuedCertificate(string CertificatePem, string ChainPem, DateTimeOffset NotBefore, DateTimeOffset NotAfter, string SerialNumber,
    string IssuerRootSha256);

/// <summary>
/// The control plane's certificate authority. At first start it makes a root (ECDSA P-256, 10 years)
/// and an intermediate under it (5 years) in its folder; or it uses the root and intermediate an
/// operator put there. The intermediate signs X.509-SVIDs: exactly one URI SAN (the workload's SPIFFE
/// ID), CA false, digitalSignature, serverAuth and clientAuth. It issues only what it is asked for by
/// a caller that proved the identity (the caller checks that); it refuses CSRs that ask for a CA,
/// for other names, or for more time than the maximum, whatever else they say.
/// </summary>
public sealed partial class CertificateAuthority : IDisposable
{
    public static readonly TimeSpan RootLifetime = TimeSpan.FromDays(3650);
    public static readonly TimeSpan IntermediateLifetime = TimeSpan.FromDays(5 * 365);

    /// <summary>Workload certificates start this far in the past, so a peer whose clock is a little behind accepts them.</summary>
    private static readonly TimeSpan Backdate = TimeSpan.FromMinutes(1);

    private const string ServerAuth = "1.3.6.1.5.5.7.3.1";
    private const string ClientAuth = "1.3.6.1.5.5.7.3.2";

    private readonly CaOptions _options;
    private readonly TimeProvider _time;
    private readonly string _dir;
    private readonly CertificateLedger _ledger;

    // Swapped whole by a rotation: an issue reads one snapshot from start to end.
    private volatile IssuerState _issuer;

    /// <summary>What signs now and what is trusted: the intermediate (and its key), the chain to a root, the bundle.</summary>
    /// <param name="VerifyChain">
    /// The intermediates a presented certificate may chain through: <paramref name="Chain"/>, and during a
    /// root rotation the old intermediates too, until the old root retires (a proxy presents its leaf alone,
    /// and its certificate of the old root must still open discovery to renew).
    /// </param>
    private sealed record IssuerState(X509Certificate2 Intermediate, ECDsa Key, X509Certificate2[] Chain, X509Certificate2[] Roots,
        X509Certificate2Collection RootCollection, string IssuingRootSha256, X509Certificate2[] VerifyChain);

    private CertificateAuthority(string dir, IssuerState issuer, CaOptions options, TimeProvider time)
    {
        _dir = dir;
        _issuer = issuer;
        _options = options;
        _time = time;
        _ledger = CertificateLedger.Open(dir, time);
        _rotation = RotationState.Load(dir);
    }

    /// <summary>The trust bundle: every root a workload certificate may chain to.</summary>
    public IReadOnlyList<X509Certificate2> Roots => _issuer.Roots;

    /// <summary>
    /// The identity a workload certificate of this CA proves (chaining through this CA's intermediates,
    /// and what a TLS peer sent beside it in <paramref name="handshakeChain"/>), or null with the reason.
    /// </summary>
    public SpiffeId? VerifyWorkload(X509Certificate presented, X509Chain? handshakeChain, DateTimeOffset now, out string error)
    {
        var issuer = _issuer;
        return Svid.VerifyPresented(presented, handshakeChain, issuer.VerifyChain, issuer.RootCollection, _options.TrustDomain, now, out error);
    }

    /// <summary>The trust bundle in PEM, as proxies get it.</summary>
    public string TrustBundlePem => string.Concat(Roots.Select(r => r.ExportCertificatePem() + "\n"));

    public X509Certificate2 Intermediate => _issuer.Intermediate;

    /// <summary>The root the intermediate that signs now chains to (lower-case hex SHA-256 of its DER).</summary>
    public string IssuerRootSha256 => _issuer.IssuingRootSha256;

    public CaOptions Options => _options;

    /// <summary>The CA in <paramref name="dir"/>: the operator's, or Weft's own, made there at first start.</summary>
    public static CertificateAuthority LoadOrCreate(string dir, CaOptions options, TimeProvider? time = null)
    {
        time ??= TimeProvider.System;
        if (!SpiffeId.IsValidTrustDomain(options.TrustDomain))
            throw new CaException($"trust domain \"{options.TrustDomain}\": lower-case letters, digits, '.', '-', '_' only");
        if (!Directory.Exists(dir) || !Directory.EnumerateFileSystemEntries(dir).Any())
            CreateAtomically(dir, options.TrustDomain, time);
        RecoverRotation(dir, time);
        return new CertificateAuthority(dir, LoadIssuer(dir, options, time), options, time);
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

    /// <summary>What the CA folder's files say signs and is trusted; an error naming the file when they do not hold together.</summary>
    private static IssuerState LoadIssuer(string dir, CaOptions options, TimeProvider time)
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
        var issuingRoot = IssuingRoot(dir, intermediate, chain, roots, time);
        // Mid-rotation the old intermediates wait in their own file until the old root retires.
        X509Certificate2[] retiring = CaFiles.Exist(dir, CaFiles.RetiringChain) ? CaFiles.ReadCertificates(dir, CaFiles.RetiringChain) : [];
        return new IssuerState(intermediate, key, chain, roots, [.. roots], Sha256(issuingRoot), [.. chain, .. retiring]);
    }

    /// <summary>Lower-case hex SHA-256 of a certificate's DER: how the bundle names a root.</summary>
    public static string Sha256(X509Certificate2 certificate) => Convert.ToHexStringLower(SHA256.HashData(certificate.RawData));

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

    /// <summary>
    /// The root of the bundle the intermediate chains to: without one every certificate issued would be
    /// refused by every peer, so the CA does not start.
    /// </summary>
    private static X509Certificate2 IssuingRoot(string dir, X509Certificate2 intermediate, X509Certificate2[] chainCertificates, X509Certificate2[] roots, TimeProvider time)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(roots);
        chain.ChainPolicy.ExtraStore.AddRange(chainCertificates);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationTime = time.GetUtcNow().UtcDateTime;
        if (!chain.Build(intermediate))
            throw new CaException($"{Path.Combine(dir, CaFiles.CaCert)} does not chain to a root of {Path.Combine(dir, CaFiles.RootCert)}: "
                + string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim())));
        var top = chain.ChainElements[^1].Certificate;
        return roots.First(r => r.RawDataMemory.Span.SequenceEqual(top.RawDataMemory.Span));
    }

    /// <summary>
    /// Signs a workload certificate for <paramref name="identity"/> over the key of <paramref name="csrPem"/>
    /// (whose signature proves the caller holds it). <paramref name="ttl"/> null: the default.
    /// Throws <see cref="CaException"/> with the reason for anything it refuses.
    /// </summary>
    /// <param name="instance">The proxy asking (Node.id): its newest certificate is what the ledger keeps, for root rotation.</param>
    public IssuedCertificate Issue(string csrPem, SpiffeId identity, TimeSpan? ttl = null, string? instance = null)
    {
        var issuer = _issuer;
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
        if (notAfter > issuer.Intermediate.NotAfter.ToUniversalTime())
            notAfter = issuer.Intermediate.NotAfter.ToUniversalTime();

        // A new request over the CSR's key with our extensions only: nothing the caller asked for beyond its key is copied.
        var request = new CertificateRequest(new X500DistinguishedName(""), csr.PublicKey, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(ServerAuth), new Oid(ClientAuth)], false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer.Intermediate, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        var names = new SubjectAlternativeNameBuilder();
        names.AddUri(new Uri(identity.ToString()));
        // An empty subject makes the SAN the certificate's only name: RFC 5280 has it critical then.
        request.CertificateExtensions.Add(names.Build(critical: true));

        var serial = NewSerial();
        using var leaf = request.Create(issuer.Intermediate.SubjectName, X509SignatureGenerator.CreateForECDsa(issuer.Key), notBefore, notAfter, serial);
        // The holder is the authenticated identity with the instance it names: a token of one account
        // cannot write over the entry of another's proxy.
        _ledger.Record(instance is null ? identity.ToString() : $"{instance} ({identity})", issuer.IssuingRootSha256, notAfter);
        return new IssuedCertificate(leaf.ExportCertificatePem() + "\n", string.Concat(issuer.Chain.Select(c => c.ExportCertificatePem() + "\n")),
            notBefore, notAfter, Convert.ToHexString(serial), issuer.IssuingRootSha256);
    }

    /// <summary>The ledger's name for the discovery port's own certificate (a live certificate like any workload's).</summary>
    public const string ControlPlaneLedgerEntry = "(control plane)";

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
        var issuer = _issuer;
        var now = _time.GetUtcNow();
        var notAfter = now + lifetime < issuer.Intermediate.NotAfter.ToUniversalTime() ? now + lifetime : issuer.Intermediate.NotAfter.ToUniversalTime();
        var request = new CertificateRequest(new X500DistinguishedName("CN=weft-control"), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(ServerAuth)], false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer.Intermediate, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        var names = new SubjectAlternativeNameBuilder();
        names.AddUri(new Uri(ControlPlaneIdentity.ToString()));
        names.AddDnsName("localhost");
        foreach (var address in addresses.Distinct())
            names.AddIpAddress(address);
        request.CertificateExtensions.Add(names.Build(critical: false));
        using var leaf = request.Create(issuer.Intermediate.SubjectName, X509SignatureGenerator.CreateForECDsa(issuer.Key), now - Backdate, notAfter, NewSerial());
        _ledger.Record(ControlPlaneLedgerEntry, issuer.IssuingRootSha256, notAfter);
        var chain = new X509Certificate2Collection();
        foreach (var c in issuer.Chain)
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
        // Certificates of a snapshot a rotation replaced are left to the finalizer: an issue may still hold it.
        var issuer = _issuer;
        issuer.Key.Dispose();
        foreach (var c in issuer.Chain) c.Dispose();
        foreach (var r in issuer.Roots) r.Dispose();
    }
}
