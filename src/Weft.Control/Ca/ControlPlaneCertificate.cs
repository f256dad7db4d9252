using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Weft.Control.Ca;

/// <summary>
/// The certificate the TLS discovery port serves (docs/security.md, "Discovery"): issued by the mesh's
/// own CA at start for 30 days, over a key that never leaves memory, and issued anew at the first
/// handshake past half its life, so a control plane that runs for months never serves an expired one.
/// </summary>
public sealed class ControlPlaneCertificate(CertificateAuthority authority, IReadOnlyList<IPAddress> addresses, TimeProvider? time = null)
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromDays(30);

    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly Lock _gate = new();
    private (SslStreamCertificateContext Context, DateTimeOffset RenewAt, string Root)? _current;

    /// <summary>
    /// What a handshake presents now: the leaf and its intermediates. Issued anew past half its life,
    /// and once the CA issues under another root (a rotation), so the old root can be retired.
    /// </summary>
    public SslStreamCertificateContext Current
    {
        get
        {
            var now = _time.GetUtcNow();
            lock (_gate)
            {
                if (_current is { } c && now < c.RenewAt && c.Root == authority.IssuerRootSha256) return c.Context;
                var root = authority.IssuerRootSha256;
                var (leaf, chain) = authority.IssueControlPlane(addresses, Lifetime);
                var renewAt = now + (new DateTimeOffset(leaf.NotAfter.ToUniversalTime()) - now) / 2;
                var context = SslStreamCertificateContext.Create(leaf, chain, offline: true);
                _current = (context, renewAt, root);
                return context;
            }
        }
    }

    /// <summary>Issues the certificate now when the CA's issuing root changed (called on every bundle change).</summary>
    public void Refresh() => _ = Current;
}
