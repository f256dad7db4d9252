using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Net.Http.Headers;

namespace Weft.Control.Api;

/// <summary>
/// What every call of /api/v1 passes before its handler runs (docs/security.md, "The control plane's API"):
/// not from a web page of another origin, the admin token, a JSON body of bounded size. A web page
/// can make a browser send a no-cors `text/plain` POST to 127.0.0.1 without any preflight; it can
/// neither read the token nor set the Authorization header without one, and a body that is not
/// `application/json` is refused before anything reads it.
/// </summary>
public sealed class ApiGuard(ApiToken token)
{
    /// <summary>Request bodies larger than this are refused (413): an apply of several files of YAML at its own limit fits.</summary>
    public const long MaxBodyBytes = 16 * 1024 * 1024;

    /// <summary>The filter of the /api/v1 route group: a refusal is the answer, otherwise the handler runs.</summary>
    public async ValueTask<object?> FilterAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        if (CrossOrigin(http.Request) is { } origin)
            return Refuse(StatusCodes.Status403Forbidden,
                $"a cross-origin request ({origin}) is refused: the API answers the weft CLI and tools, not web pages of other origins");
        if (!token.Accepts(http.Request.Headers.Authorization))
        {
            http.Response.Headers.WWWAuthenticate = "Bearer";
            return Refuse(StatusCodes.Status401Unauthorized, http.Request.Headers.Authorization.Count == 0
                ? "this call needs the API token (Authorization: Bearer TOKEN): the weft CLI reads it from the control plane's data dir (api-token) or WEFT_TOKEN"
                : "the API token does not match this control plane's (its data dir's api-token)");
        }
        if (HasBody(http.Request))
        {
            if (!IsJson(http.Request.ContentType))
                return Refuse(StatusCodes.Status415UnsupportedMediaType,
                    $"the request body must be application/json, not {(string.IsNullOrEmpty(http.Request.ContentType) ? "untyped" : http.Request.ContentType)}");
            if (http.Request.ContentLength > MaxBodyBytes)
                return Refuse(StatusCodes.Status413PayloadTooLarge, TooLarge(http.Request.ContentLength.Value));
            if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
                limit.MaxRequestBodySize = MaxBodyBytes;
        }
        try
        {
            return await next(context).ConfigureAwait(false);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            // A chunked body that outgrew the limit while the handler read it.
            return Refuse(StatusCodes.Status413PayloadTooLarge, TooLarge(null));
        }
    }

    private static string TooLarge(long? length) =>
        $"the request body{(length is { } n ? $" ({n} bytes)" : "")} is larger than the {MaxBodyBytes / (1024 * 1024)} MiB the API takes: apply fewer files at a time";

    /// <summary>The origin a browser says the request comes from, when that is not this API's own; null otherwise.</summary>
    private static string? CrossOrigin(HttpRequest request)
    {
        // Fetch metadata: browsers send it on every request; tools do not.
        var site = request.Headers["Sec-Fetch-Site"].ToString();
        if (site.Length > 0 && site is not ("same-origin" or "none"))
            return $"Sec-Fetch-Site: {site}";
        var origin = request.Headers.Origin.ToString();
        if (origin.Length == 0)
            return null;
        return string.Equals(origin, $"{request.Scheme}://{request.Host}", StringComparison.OrdinalIgnoreCase) ? null : $"Origin: {origin}";
    }

    private static bool HasBody(HttpRequest request) =>
        request.ContentLength > 0 || (request.ContentLength is null && request.Headers.TransferEncoding.Count > 0);

    private static bool IsJson(string? contentType) =>
        MediaTypeHeaderValue.TryParse(contentType, out var media) && media.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase);

    private static IResult Refuse(int status, string message) => Results.Json(new ApiError(message), ApiJson.Options, statusCode: status);
}
