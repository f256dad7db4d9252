using Weft.Model.Identity;
using Weft.Protocol.Grpc;

namespace Weft.Control.Ca;

/// <summary>
/// The service account a discovery-port call proves (docs/security.md, "Discovery"): the workload
/// certificate it presented on the TLS port, when it did, else its bootstrap token
/// (`authorization: Bearer TOKEN`). Throws <see cref="RpcException"/> (Unauthenticated) with the reason.
/// </summary>
public sealed class CallerAuthentication(BootstrapTokens tokens, CertificateAuthority? authority, TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    public ServiceAccountRef Authenticate(IServerCallContext call, string what)
    {
        ArgumentNullException.ThrowIfNull(call);
        if (call.PeerCertificate is { } certificate && authority is not null)
        {
            if (authority.VerifyWorkload(certificate, handshakeChain: null, _time.GetUtcNow(), out var error) is not { } id)
                throw new RpcException(StatusCode.Unauthenticated, $"the client certificate proves no workload: {error}");
            return new ServiceAccountRef(id.Namespace, id.ServiceAccount);
        }
        call.RequestHeaders.TryGetValue("authorization", out var authorization);
        return tokens.Verify(authorization) ?? throw new RpcException(StatusCode.Unauthenticated, authorization is null
            ? $"{what} needs a workload certificate (on the TLS port) or `authorization: Bearer <bootstrap token>` (weft proxy --bootstrap-token-file; weft token create)"
            : "the bootstrap token is not one this control plane made");
    }
}
