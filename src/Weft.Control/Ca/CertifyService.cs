using Weft.Model.Identity;
using Weft.Protocol.Discovery;
using Weft.Protocol.Grpc;

namespace Weft.Control.Ca;

/// <summary>
/// weft.discovery.v1.Discovery/Certify: a workload certificate for the service account the caller's
/// bootstrap token proves. The identity comes from the token only; the CSR contributes its key.
/// </summary>
/// <param name="defaultTtl">The lifetime when the request names none: the current MeshConfig's workloadTtl.</param>
/// <param name="issued">Told of every certificate issued: the caller's instance, its account, the identity and its validity (for `weft status` and `weft check`).</param>
public sealed class CertifyService(CertificateAuthority authority, CallerAuthentication callers, Func<TimeSpan> defaultTtl,
    Action<string, ServiceAccountRef, string, DateTimeOffset, DateTimeOffset>? issued = null)
{
    public void Register(GrpcServer server) => server.AddUnary(DiscoveryMethods.Certify, HandleAsync);

    private Task<CertifyResponse> HandleAsync(CertifyRequest request, IServerCallContext call)
    {
        var account = callers.Authenticate(call, "Certify");
        var identity = new SpiffeId(authority.Options.TrustDomain, account.Namespace, account.Name);
        IssuedCertificate certificate;
        try
        {
            certificate = authority.Issue(request.CsrPem, identity, request.TtlSeconds == 0 ? defaultTtl() : TimeSpan.FromSeconds(request.TtlSeconds),
                request.Instance.Length == 0 ? null : request.Instance);
        }
        catch (CaException e)
        {
            throw new RpcException(StatusCode.InvalidArgument, $"no certificate for {identity}: {e.Message}");
        }
        issued?.Invoke(request.Instance, account, identity.ToString(), certificate.NotBefore, certificate.NotAfter);
        return Task.FromResult(new CertifyResponse
        {
            CertificatePem = certificate.CertificatePem,
            ChainPem = certificate.ChainPem,
            TrustBundlePem = authority.TrustBundlePem,
            SpiffeId = identity.ToString(),
            NotBeforeUnixMs = certificate.NotBefore.ToUnixTimeMilliseconds(),
            NotAfterUnixMs = certificate.NotAfter.ToUnixTimeMilliseconds(),
            IssuerRootSha256 = certificate.IssuerRootSha256,
        });
    }
}
