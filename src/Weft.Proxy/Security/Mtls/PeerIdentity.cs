using Weft.Model.Identity;

namespace Weft.Proxy.Security.Mtls;

/// <summary>
/// The verified identity of the other end of an mTLS connection: the SPIFFE ID of a certificate that
/// chained to the trust bundle. Made once per handshake; the strings requests need are made here.
/// </summary>
internal sealed class PeerIdentity
{
    public PeerIdentity(SpiffeId id, string? own)
    {
        Id = id;
        Uri = id.ToString();
        Principal = Uri[SpiffeId.Scheme.Length..];
        // Envoy's format, which apps behind Istio already parse: By (us) and URI (the peer).
        ForwardedClientCert = own is null ? "URI=" + Uri : "By=" + own + ";URI=" + Uri;
        Source = new Pipeline.SourceIdentity(id.ServiceAccount, Pipeline.SourceIdentity.Unknown);
    }

    /// <summary>The key under which an mTLS connection's Items hold its peer, for codecs handed the connection whole (Kestrel's).</summary>
    public static readonly object ConnectionItemKey = new();

    /// <summary>The metrics' source when the caller names no version of its own.</summary>
    internal Pipeline.SourceIdentity Source { get; }

    public SpiffeId Id { get; }

    /// <summary>spiffe://TD/ns/NS/sa/SA.</summary>
    public string Uri { get; }

    /// <summary>TD/ns/NS/sa/SA: the SPIFFE ID as AuthorizationPolicy principals name it (Istio's form).</summary>
    public string Principal { get; }

    /// <summary>The x-forwarded-client-cert value the app receives.</summary>
    public string ForwardedClientCert { get; }
}
