using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Weft.Model.Identity;

namespace Weft.Control.Ca;

/// <summary>
/// The TLS of the discovery port 15012 (docs/security.md, "Discovery"): TLS 1.3 only, ALPN h2, the
/// control plane's own certificate (<see cref="ControlPlaneCertificate"/>), and a client certificate
/// asked for but not required: a proxy without one yet proves itself with its bootstrap token. One
/// it does present must be a workload certificate of this CA, or the handshake fails.
/// </summary>
public sealed class DiscoveryTls(CertificateAuthority authority, IReadOnlyList<IPAddress> addresses, TimeProvider? time = null)
{
    private readonly ControlPlaneCertificate _certificate = Watched(authority, addresses, time);
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>The serving certificate, issued again as soon as a rotation switches the issuing root.</summary>
    private static ControlPlaneCertificate Watched(CertificateAuthority authority, IReadOnlyList<IPAddress> addresses, TimeProvider? time)
    {
        var certificate = new ControlPlaneCertificate(authority, addresses, time);
        authority.BundleChanged += certificate.Refresh;
        return certificate;
    }

    public TlsHandshakeCallbackOptions Options => new()
    {
        OnConnection = _ => ValueTask.FromResult(new SslServerAuthenticationOptions
        {
            ServerCertificateContext = _certificate.Current,
            EnabledSslProtocols = SslProtocols.Tls13,
            ApplicationProtocols = [SslApplicationProtocol.Http2],
            ClientCertificateRequired = true,
            RemoteCertificateValidationCallback = ValidateClient,
        }),
        HandshakeTimeout = TimeSpan.FromSeconds(10),
    };

    private bool ValidateClient(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (certificate is null) return true;     // no certificate yet: the call's token decides
        return authority.VerifyWorkload(certificate, chain, _time.GetUtcNow(), out _) is not null;
    }
}
