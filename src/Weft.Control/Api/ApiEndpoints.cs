using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Weft.Control.Discovery;
using Weft.Control.Store;
using Weft.Model.Parsing;
using Weft.Model.Serialization;
using Weft.Model.Resources;

namespace Weft.Control.Api;

/// <summary>The control plane's HTTP API under /api/v1 (CONTRACT: port 15014, JSON).</summary>
public static class ApiEndpoints
{
    public const string Prefix = "/api/v1";
    private static readonly TimeSpan MaxSyncWait = TimeSpan.FromMinutes(5);

    /// <summary>Maps every /api/v1 route onto <paramref name="endpoints"/>.</summary>
    public static RouteGroupBuilder Map(IEndpointRouteBuilder endpoints, IConfigStore store, IProxyStatusView proxies, ApiToken token, TimeProvider? time = null)
    {
        var clock = time ?? TimeProvider.System;
        var api = endpoints.MapGroup(Prefix);
        api.AddEndpointFilter(new ApiGuard(token).FilterAsync);

        api.MapPost("/apply", async (HttpContext http) =>
        {
            var (request, parsed, problem) = await ReadFilesAsync(http).ConfigureAwait(false);
            if (problem is not null) return problem;
            return await WriteAsync(() => store.ApplyAsync(parsed!, request!.DryRun, http.RequestAborted)).ConfigureAwait(false);
        });

        api.MapPost("/delete", async (HttpContext http) =>
        {
            var (request, parsed, problem) = await ReadFilesAsync(http).ConfigureAwait(false);
            if (problem is not null) return problem;
            var keys = parsed!.Select(r => r.Key).ToList();
            return await WriteAsync(() => store.DeleteAsync(keys, request!.DryRun, request.IgnoreMissing, http.RequestAborted)).ConfigureAwait(false);
        });

        api.MapDelete("/resources/{kind}/{ns}/{name}", async (string kind, string ns, string name, bool? dryRun, HttpContext http) =>
        {
            if (ResourceParser.ParseKind(kind) is not { } canonical) return UnknownKind(kind);
            return await WriteAsync(() => store.DeleteAsync([new ResourceKey(canonical, ns, name)], dryRun ?? false, false, http.RequestAborted)).ConfigureAwait(false);
        });

        api.MapGet("/resources", (string? kind, string? @namespace) =>
        {
            string? canonical = null;
            if (!string.IsNullOrEmpty(kind) && (canonical = ResourceParser.ParseKind(kind)) is null) return UnknownKind(kind);
            var snapshot = store.Current;
            var items = snapshot.Select(canonical, string.IsNullOrEmpty(@namespace) ? null : @namespace)
                .Select(r => JsonNode.Parse(ResourceJson.Serialize(r))!.AsObject()).ToList();
            return Results.Json(new ResourceListResponse(snapshot.Revision, items), ApiJson.Options);
        });

        api.MapGet("/resources/{kind}/{ns}/{name}", (string kind, string ns, string name) =>
        {
            if (ResourceParser.ParseKind(kind) is not { } canonical) return UnknownKind(kind);
            return store.Get(canonical, ns, name) is [var resource]
                ? Results.Text(ResourceJson.Serialize(resource), "application/json")
                : Results.Json(new ApiError($"{canonical} {ns}/{name} not found"), ApiJson.Options, statusCode: StatusCodes.Status404NotFound);
        });

        api.MapGet("/history", () =>
        {
            var revisions = store.History().Select(h =>
                new RevisionEntry(h.Revision, h.Time, h.Cause, h.ResourceCount, h.Changes.Select(ApiChange.From).ToList())).ToList();
            return Results.Json(new HistoryResponse(store.Current.Revision, revisions), ApiJson.Options);
        });

        api.MapPost("/rollback", async (HttpContext http) =>
        {
            var (request, problem) = await ReadJsonAsync<RollbackRequest>(http).ConfigureAwait(false);
            if (problem is not null) return problem;
            return await WriteAsync(() => store.RollbackAsync(request?.Revision, http.RequestAborted)).ConfigureAwait(false);
        });

        api.MapGet("/revision", () => Results.Json(new RevisionResponse(store.Current.Revision), ApiJson.Options));

        api.MapGet("/proxies", () => Results.Json(new ProxiesResponse(store.Current.Revision, proxies.Proxies), ApiJson.Options));

        api.MapGet("/sync", async (long? revision, double? timeoutSeconds, HttpContext http) =>
        {
            var timeout = TimeSpan.FromSeconds(Math.Clamp(timeoutSeconds ?? 30, 0, MaxSyncWait.TotalSeconds));
            var response = await ProxySync.WaitAsync(proxies, revision ?? store.Current.Revision, timeout, clock, http.RequestAborted).ConfigureAwait(false);
            return Results.Json(response, ApiJson.Options);
        });

        return api;
    }

    /// <summary>Reads an apply/delete body and parses every file; any problem comes back as the HTTP answer.</summary>
    private static async Task<(ApplyRequest? Request, List<Resource>? Resources, IResult? Problem)> ReadFilesAsync(HttpContext http)
    {
        var (request, problem) = await ReadJsonAsync<ApplyRequest>(http).ConfigureAwait(false);
        if (problem is not null) return (null, null, problem);
        if (request?.Files is not { Count: > 0 } files)
            return (null, null, BadRequest("the request names no files: send {\"files\": [{\"name\": \"...\", \"content\": \"...\"}]}"));

        var resources = new List<Resource>();
        var errors = new List<ValidationError>();
        // One budget for every file of the request: many small files cannot each spend a whole read's.
        var budget = new YamlBudget();
        foreach (var file in files)
        {
            var result = ResourceParser.Parse(file.Content ?? "", string.IsNullOrEmpty(file.Name) ? "-" : file.Name, budget);
            resources.AddRange(result.Resources);
            errors.AddRange(result.Errors);
            if (errors.Count >= YamlLimits.MaxErrors || budget.NodesLeft < 0)
                break;      // enough to act on; the rest of the files are not read
        }
        if (errors.Count > 0)
            return (null, null, Results.Json(new ValidationErrorsResponse(errors), ApiJson.Options, statusCode: StatusCodes.Status422UnprocessableEntity));
        if (resources.Count == 0)
            return (null, null, BadRequest($"no resources found in {string.Join(", ", files.Select(f => f.Name))}"));
        return (request, resources, null);
    }

    internal static async Task<(T? Value, IResult? Problem)> ReadJsonAsync<T>(HttpContext http) where T : class
    {
        // An empty body is "no options" (e.g. POST /rollback to the default revision), not a JSON error.
        if (http.Request.ContentLength == 0) return (null, null);
        try
        {
            var value = await JsonSerializer.DeserializeAsync<T>(http.Request.Body, ApiJson.Options, http.RequestAborted).ConfigureAwait(false);
            return (value, null);
        }
        catch (JsonException e)
        {
            return (null, BadRequest($"the request body is not valid JSON for {typeof(T).Name}: {e.Message}"));
        }
    }

    /// <summary>
    /// Runs a store write. A failed disk write is the one server-side error a user can act on (disk full,
    /// permissions), so it is answered with its message rather than a bare 500.
    /// </summary>
    private static async Task<IResult> WriteAsync(Func<Task<ChangeResult>> write)
    {
        try
        {
            return ToResult(await write().ConfigureAwait(false));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Results.Json(new ApiError($"config store: the change was not stored: {e.Message}"), ApiJson.Options,
                statusCode: StatusCodes.Status500InternalServerError);
        }
    }

    private static IResult ToResult(ChangeResult result) => result.Error switch
    {
        null => Results.Json(ChangeResponse.From(result), ApiJson.Options),
        { Code: StoreErrorCode.NotFound or StoreErrorCode.UnknownRevision } e =>
            Results.Json(new ApiError(e.Message), ApiJson.Options, statusCode: StatusCodes.Status404NotFound),
        { Code: StoreErrorCode.Duplicate } e => Results.Json(
            new ValidationErrorsResponse([new ValidationError("", 0, 0, 0, "", e.Message)]), ApiJson.Options,
            statusCode: StatusCodes.Status422UnprocessableEntity),
        var e => Results.Json(new ApiError(e.Message), ApiJson.Options, statusCode: StatusCodes.Status409Conflict),
    };

    private static IResult UnknownKind(string kind) =>
        BadRequest($"unknown kind \"{kind}\": use a kind such as service, httproute, grpcroute, gateway (singular or plural)");

    internal static IResult BadRequest(string message) =>
        Results.Json(new ApiError(message), ApiJson.Options, statusCode: StatusCodes.Status400BadRequest);
}
