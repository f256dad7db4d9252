using System.Formats.Asn1;
using System.Security.Cryptography.X509Certificates;

namespace Weft.Model.Identity;

/// <summary>
/// Reading and checking X.509-SVIDs (the SPIFFE X.509-SVID spec): what the CA refuses to issue and what
/// a peer's certificate must be to be believed.
/// </summary>
public static class Svid
{
    /// <summary>Every name of a SAN extension, as "URI:...", "DNS:...", "IP:..." or "other".</summary>
    public static List<string> DescribeNames(X509SubjectAlternativeNameExtension names)
    {
        ArgumentNullException.ThrowIfNull(names);
        var result = new List<string>();
        result.AddRange(names.EnumerateDnsNames().Select(n => "DNS:" + n));
        result.AddRange(names.EnumerateIPAddresses().Select(a => "IP:" + a));
        var reader = new AsnReader(names.RawData, AsnEncodingRules.DER).ReadSequence();
        while (reader.HasData)
        {
            var tag = reader.PeekTag();
            if (tag.TagClass == TagClass.ContextSpecific && tag.TagValue == 6)
                result.Add("URI:" + reader.ReadCharacterString(UniversalTagNumber.IA5String, new Asn1Tag(TagClass.ContextSpecific, 6)));
            else if (tag.TagClass == TagClass.ContextSpecific && tag.TagValue is 2 or 7)
                reader.ReadEncodedValue();      // DNS and IP, listed above
            else
            {
                reader.ReadEncodedValue();
                result.Add("other");
            }
        }
        return result;
    }

    /// <summary>
    /// The SPIFFE ID <paramref name="leaf"/> proves, when it chains (through <paramref name="intermediates"/>)
    /// to one of <paramref name="roots"/> at <paramref name="now"/>, is no CA, and names exactly one URI,
    /// a SPIFFE ID of <paramref name="trustDomain"/> (null: of any the roots vouch for); otherwise null with the reason in <paramref name="error"/>.
    /// </summary>
    public static SpiffeId? Verify(X509Certificate2 leaf, IEnumerable<X509Certificate2> intermediates, X509Certificate2Collection roots,
        string? trustDomain, DateTimeOffset now, out string error)
    {
        ArgumentNullException.ThrowIfNull(leaf);
        ArgumentNullException.ThrowIfNull(intermediates);
        ArgumentNullException.ThrowIfNull(roots);
        if (leaf.Extensions.OfType<X509BasicConstraintsExtension>().Any(b => b.CertificateAuthority))
            return Fail("it is a CA certificate (basicConstraints CA:TRUE), not a workload's", out error);
        var sans = leaf.Extensions.OfType<X509SubjectAlternativeNameExtension>().ToList();
        var names = sans.Count == 1 ? DescribeNames(sans[0]) : [];
        var uris = names.Where(n => n.StartsWith("URI:", StringComparison.Ordinal)).ToList();
        if (uris.Count != 1)
            return Fail($"it names {uris.Count} URIs ({(names.Count == 0 ? "no names" : string.Join(", ", names))}): an X.509-SVID names exactly one SPIFFE ID", out error);
        if (SpiffeId.Parse(uris[0]["URI:".Length..], out var idError) is not { } id)
            return Fail($"its URI {uris[0]["URI:".Length..]} is no SPIFFE ID of Weft's: it {idError}", out error);
        if (trustDomain is not null && id.TrustDomain != trustDomain)
            return Fail($"{id} is not of trust domain {trustDomain}", out error);
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(roots);
        foreach (var intermediate in intermediates)
            if (!intermediate.RawDataMemory.Span.SequenceEqual(leaf.RawDataMemory.Span))
                chain.ChainPolicy.ExtraStore.Add(intermediate);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationTime = now.UtcDateTime;
        chain.ChainPolicy.VerificationTimeIgnored = false;
        if (!chain.Build(leaf))
            return Fail($"{id}: {string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Distinct())}", out error);
        error = "";
        return id;
    }

    /// <summary>
    /// <see cref="Verify"/> for a TLS validation callback: <paramref name="presented"/> chains through what
    /// the peer sent beside it (the handshake chain's extra store) and <paramref name="known"/> intermediates.
    /// </summary>
    public static SpiffeId? VerifyPresented(X509Certificate presented, X509Chain? handshakeChain, IEnumerable<X509Certificate2> known,
        X509Certificate2Collection roots, string? trustDomain, DateTimeOffset now, out string error)
    {
        ArgumentNullException.ThrowIfNull(presented);
        using var leaf = new X509Certificate2(presented);
        var sent = handshakeChain?.ChainPolicy.ExtraStore.Cast<X509Certificate2>() ?? [];
        return Verify(leaf, sent.Concat(known), roots, trustDomain, now, out error);
    }

    private static SpiffeId? Fail(string reason, out string error)
    {
        error = reason;
        return null;
    }
}
