using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Weft.Model.Identity;
using Weft.Protocol.Grpc;

namespace Weft.Proxy.Security;

/// <summary>
/// Channels to the control plane (docs/security.md, "Discovery"): h2c for an http:// address; for an
/// https:// one (port 15012), TLS 1.3 where the server must chain to a root of the CA file (or of the
/// trust bundle the proxy holds since) and be the control plane (spiffe://TD/ns/weft-system/sa/weft-control),
/// and where the proxy presents its workload certificate once it holds one.
/// </summary>
public sealed class ControlPlaneChannels
{
    private readonly X509Certificate2Collection _caRoots = [];
    private readonly CertificateHolder _holder;
    private readonly TimeProvider _time;
    private readonly GrpcTls? _tls;

    /// <param name="caFile">PEM roots the control plane's certificate must chain to; required for https.</param>
    public ControlPlaneChannels(Uri control, string? caFile, CertificateHolder holder, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(control);
        Address = control;
        _holder = holder;
        _time = time ?? TimeProvider.System;
        if (control.Scheme != Uri.UriSchemeHttps) return;
        if (caFile is null)
            throw new ArgumentException($"{control} is TLS: the control plane's root certificate is needed (--ca-file)", nameof(caFile));
        _caRoots.ImportFromPemFile(caFile);
        if (_caRoots.Count == 0)
            throw new ArgumentException($"{caFile} holds no PEM certificate", nameof(caFile));
        _tls = new GrpcTls(ValidateServer, () => _holder.Current?.Leaf);
    }

    public Uri Address { get; }

    public GrpcChannel Open() => new(Address, timeProvider: _time, tls: _tls);

    private bool ValidateServer(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (certificate is null) return false;
        var roots = new X509Certificate2Collection(_caRoots);
        if (_holder.Current is { } held) roots.AddRange(held.TrustBundle);
        return Svid.VerifyPresented(certificate, chain, [], roots, trustDomain: null, _time.GetUtcNow(), out _)
            is { Namespace: "weft-system", ServiceAccount: "weft-control" };
    }
}
