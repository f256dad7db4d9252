using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Weft.Control.Ca;

namespace Weft.Control.Api;

/// <summary>
/// GET /api/v1/ca (`weft ca status`, `weft check`): the CA's roots and intermediate with their expiry,
/// and where a root rotation stands. POST /api/v1/ca/rotate (`weft ca rotate`): starts one (409 when
/// one is under way). Behind the API's guard like every call.
/// </summary>
public static class CaEndpoints
{
    public static void Map(RouteGroupBuilder api, CertificateAuthority authority, Func<RotationProgress> progress)
    {
        api.MapGet("/ca", () => Results.Json(Status(authority, progress()), ApiJson.Options));
        api.MapPost("/ca/rotate", () =>
        {
            try
            {
                authority.StartRotation();
            }
            catch (CaException e)
            {
                return Results.Json(new ApiError(e.Message), ApiJson.Options, statusCode: StatusCodes.Status409Conflict);
            }
            return Results.Json(Status(authority, progress()), ApiJson.Options, statusCode: StatusCodes.Status202Accepted);
        });
    }

    private static CaStatusResponse Status(CertificateAuthority authority, RotationProgress progress)
    {
        var state = progress.State;
        return new CaStatusResponse(
            authority.Options.TrustDomain,
            [.. authority.Roots.Select(Info)],
            Info(authority.Intermediate),
            authority.IssuerRootSha256,
            authority.BundleGeneration,
            new CaRotationInfo(state.Phase.ToString().ToLowerInvariant(), state.OldRoot, state.NewRoot, state.StartedAt, state.SwitchedAt, state.FinishedAt,
                progress.ProxiesWithoutBundle, [.. progress.LiveUnderOldRoot.Select(l => new CaLiveCertificate(l.Holder, l.NotAfter))]),
            authority.OwnsRoot);
    }

    private static CaCertificateInfo Info(X509Certificate2 certificate) => new(
        CertificateAuthority.Sha256(certificate), certificate.Subject,
        new DateTimeOffset(certificate.NotBefore.ToUniversalTime()), new DateTimeOffset(certificate.NotAfter.ToUniversalTime()));
}
