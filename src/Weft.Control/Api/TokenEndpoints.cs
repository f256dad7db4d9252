using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Weft.Control.Ca;
using Weft.Model.Identity;

namespace Weft.Control.Api;

/// <summary>
/// POST /api/v1/tokens: a new bootstrap token for a service account (`weft token create`; `weft up`
/// makes one per account it runs). Behind the API's guard like every call: only the admin token's
/// holder makes them.
/// </summary>
public static class TokenEndpoints
{
    public static void Map(RouteGroupBuilder api, BootstrapTokens tokens, string trustDomain, TimeProvider? time = null)
    {
        var clock = time ?? TimeProvider.System;
        api.MapPost("/tokens", async (HttpContext http) =>
        {
            var (request, problem) = await ApiEndpoints.ReadJsonAsync<TokenRequest>(http).ConfigureAwait(false);
            if (problem is not null) return problem;
            var ns = string.IsNullOrEmpty(request?.Namespace) ? "default" : request.Namespace;
            if (string.IsNullOrEmpty(request?.ServiceAccount))
                return ApiEndpoints.BadRequest("serviceAccount: required");
            if (SpiffeId.NamespaceError(ns) is { } nsError)
                return ApiEndpoints.BadRequest($"namespace \"{ns}\": {nsError}");
            if (SpiffeId.ServiceAccountError(request.ServiceAccount) is { } saError)
                return ApiEndpoints.BadRequest($"serviceAccount \"{request.ServiceAccount}\": {saError}");
            var account = new ServiceAccountRef(ns, request.ServiceAccount);
            var token = tokens.Create(account, clock.GetUtcNow());
            return Results.Json(new TokenResponse(token, new SpiffeId(trustDomain, account.Namespace, account.Name).ToString()), ApiJson.Options);
        });
    }
}
