using System.Text.Json;
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
            TokenRequest? request;
            try
            {
                request = await JsonSerializer.DeserializeAsync<TokenRequest>(http.Request.Body, ApiJson.Options, http.RequestAborted).ConfigureAwait(false);
            }
            catch (JsonException e)
            {
                return BadRequest($"the request body is not valid JSON for {nameof(TokenRequest)}: {e.Message}");
            }
            var ns = string.IsNullOrEmpty(request?.Namespace) ? "default" : request.Namespace;
            if (string.IsNullOrEmpty(request?.ServiceAccount))
                return BadRequest("serviceAccount: required");
            if (SpiffeId.NamespaceError(ns) is { } nsError)
                return BadRequest($"namespace \"{ns}\": {nsError}");
            if (SpiffeId.ServiceAccountError(request.ServiceAccount) is { } saError)
                return BadRequest($"serviceAccount \"{request.ServiceAccount}\": {saError}");
            var account = new ServiceAccountRef(ns, request.ServiceAccount);
            var token = tokens.Create(account, clock.GetUtcNow());
            return Results.Json(new TokenResponse(token, new SpiffeId(trustDomain, account.Namespace, account.Name).ToString()), ApiJson.Options);
        });
    }

    private static IResult BadRequest(string message) =>
        Results.Json(new ApiError(message), ApiJson.Options, statusCode: StatusCodes.Status400BadRequest);
}
