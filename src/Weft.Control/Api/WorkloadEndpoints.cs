using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Weft.Control.Workloads;

namespace Weft.Control.Api;

/// <summary>
/// /api/v1/workloads: launchers (`weft up`) report their processes; `weft status` reads them. Operators
/// ask for a replica's graceful restart or stop (POST /workloads/INSTANCE/restart|stop); the launcher
/// that runs it gets the request in the answer to its next report and reports its progress.
/// </summary>
public static class WorkloadEndpoints
{
    /// <summary>Maps /workloads onto the /api/v1 group <paramref name="api"/>.</summary>
    public static void Map(RouteGroupBuilder api, WorkloadBoard board)
    {
        api.MapPut("/workloads", async (HttpContext http) =>
        {
            WorkloadsReport? report;
            try
            {
                report = await JsonSerializer.DeserializeAsync<WorkloadsReport>(http.Request.Body, ApiJson.Options, http.RequestAborted).ConfigureAwait(false);
            }
            catch (JsonException e)
            {
                return BadRequest($"the request body is not valid JSON for {nameof(WorkloadsReport)}: {e.Message}");
            }
            var errors = Validate(report);
            if (errors.Count > 0) return BadRequest(string.Join("; ", errors));
            var stored = board.Report(report!.Launcher, report.Processes, report.Draining, report.Actions);
            return Results.Json(new WorkloadsResponse([stored], board.PendingFor(report.Launcher)), ApiJson.Options);
        });

        api.MapGet("/workloads", () => Results.Json(new WorkloadsResponse(board.Current(), board.Actions()), ApiJson.Options));

        foreach (var action in WorkloadActions.All)
        {
            api.MapPost("/workloads/{instance}/" + action, (string instance) =>
                board.Request(instance, action) is { } request
                    ? Results.Json(request, ApiJson.Options, statusCode: StatusCodes.Status202Accepted)
                    : Results.Json(new ApiError($"no launcher runs an app of instance {instance} (`weft status` lists the instances)"), ApiJson.Options,
                        statusCode: StatusCodes.Status404NotFound));
        }

        api.MapGet("/workloads/actions/{id}", (string id) =>
            board.Action(id) is { } found
                ? Results.Json(found, ApiJson.Options)
                : Results.Json(new ApiError($"no action {id} (finished actions are kept for a while, not forever)"), ApiJson.Options,
                    statusCode: StatusCodes.Status404NotFound));
    }

    /// <summary>Every problem of a report, each with its field path.</summary>
    internal static List<string> Validate(WorkloadsReport? report)
    {
        var errors = new List<string>();
        if (report is null) return ["the request has no body: send {\"launcher\": \"...\", \"processes\": [...]}"];
        if (string.IsNullOrEmpty(report.Launcher)) errors.Add("launcher: required");
        if (report.Processes is null)
        {
            errors.Add("processes: required (an empty list when nothing runs)");
            return errors;
        }
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < report.Processes.Count; i++)
        {
            var path = $"processes[{i}]";
            if (report.Processes[i] is not { } p)
            {
                errors.Add($"{path}: must be an object");
                continue;
            }
            if (string.IsNullOrEmpty(p.Name)) errors.Add($"{path}.name: required");
            else if (!names.Add(p.Name)) errors.Add($"{path}.name: \"{p.Name}\" is reported twice");
            if (string.IsNullOrEmpty(p.Instance)) errors.Add($"{path}.instance: required");
            if (!WorkloadRoles.All.Contains(p.Role)) errors.Add($"{path}.role: \"{p.Role}\" is not one of {string.Join(", ", WorkloadRoles.All)}");
            if (!WorkloadStates.All.Contains(p.State)) errors.Add($"{path}.state: \"{p.State}\" is not one of {string.Join(", ", WorkloadStates.All)}");
            if (p.Restarts < 0) errors.Add($"{path}.restarts: must not be negative");
        }
        for (var i = 0; i < (report.Draining?.Count ?? 0); i++)
            if (string.IsNullOrEmpty(report.Draining![i])) errors.Add($"draining[{i}]: must be an instance name");
        for (var i = 0; i < (report.Actions?.Count ?? 0); i++)
        {
            var path = $"actions[{i}]";
            if (report.Actions![i] is not { } a)
            {
                errors.Add($"{path}: must be an object");
                continue;
            }
            if (string.IsNullOrEmpty(a.Id)) errors.Add($"{path}.id: required");
            if (!WorkloadActionStates.All.Contains(a.State)) errors.Add($"{path}.state: \"{a.State}\" is not one of {string.Join(", ", WorkloadActionStates.All)}");
        }
        return errors;
    }

    private static IResult BadRequest(string message) =>
        Results.Json(new ApiError(message), ApiJson.Options, statusCode: StatusCodes.Status400BadRequest);
}
