using System.Net.Security;

namespace Weft.Proxy.Security.Mtls;

/// <summary>
/// The ALPN protocols of mTLS between sidecars (docs/security.md, "mTLS between sidecars"). They say
/// what runs inside the tunnel, so the inbound side needs no sniffing after the handshake, and their
/// prefix tells a sidecar's ClientHello apart from an app's own TLS arriving on the same port.
/// </summary>
internal static class MeshAlpn
{
    public const string Prefix = "weft-";

    public static readonly SslApplicationProtocol Http1 = new("weft-http/1.1");
    public static readonly SslApplicationProtocol Http2 = new("weft-h2");
    public static readonly SslApplicationProtocol Tcp = new("weft-tcp");

    /// <summary>What an inbound side accepts, in its order of preference.</summary>
    public static readonly List<SslApplicationProtocol> All = [Http2, Http1, Tcp];
}
