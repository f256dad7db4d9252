using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Weft.Control.Api;
using Weft.Control.Workloads;

namespace Weft.Cli.Commands;

/// <summary>`weft status [-o table|json|yaml]`: every proxy, how far its config has synced, and its app's process.</summary>
internal static class StatusCommand
{
    public static Command Create()
    {
        var command = new Command("status", "Show every proxy: service, version, addresses, config revision acknowledged, sync state, its app's process");
        var output = Output.CreateOption();
        var control = ConfigCommands.CreateControlOption();
        command.Options.Add(output);
        command.Options.Add(control);

        ConfigCommands.SetClientAction(command, control, async (parseResult, client, ct) =>
        {
            var response = await client.GetAsync("proxies", ct).ConfigureAwait(false);
            if (!response.Ok) return ConfigCommands.Refused(parseResult, response);
            var status = response.Read<ProxiesResponse>();
            var apps = AppsByInstance(await ReadWorkloadsAsync(client, ct).ConfigureAwait(false));
            var writer = parseResult.InvocationConfiguration.Output;
            var format = parseResult.GetValue(output);
            if (format != OutputFormat.Table)
            {
                Output.WriteDocument(writer, WithApps(status, apps), format);
                return ConfigCommands.Ok;
            }
            if (status.Proxies.Count == 0)
            {
                await writer.WriteLineAsync($"no proxies connected (config revision {status.Revision})").ConfigureAwait(false);
                return ConfigCommands.Ok;
            }
            Output.WriteTable(writer, ["PROXY", "SERVICE", "VERSION", "ROLE", "ADDRESS", "ADMIN", "REVISION", "SYNC", "CERT EXPIRY", "APP"],
                status.Proxies.OrderBy(p => p.Service, StringComparer.Ordinal).ThenBy(p => p.Id, StringComparer.Ordinal).Select(p => (IReadOnlyList<string>)
                [
                    p.Id, p.Service, p.Version, p.Role, p.Address, p.AdminUrl,
                    p.RevisionAcked.ToString(CultureInfo.InvariantCulture), p.SyncState, CertificateColumn(p.CertificateNotAfter, DateTimeOffset.UtcNow), AppColumn(AppOf(p.Id, p.Role, apps)),
                ]));
            return ConfigCommands.Ok;
        });
        return command;
    }

    /// <summary>The CERT EXPIRY cell: <c>2026-12-08 19:59Z (23h59m)</c>, <c>... (EXPIRED)</c>; <c>-</c> when the proxy has no certificate.</summary>
    internal static string CertificateColumn(DateTimeOffset? notAfter, DateTimeOffset now)
    {
        if (notAfter is not { } expiry) return "-";
        var left = expiry - now;
        var when = Output.Minute(expiry);
        return left <= TimeSpan.Zero ? when + " (EXPIRED)" : $"{when} ({Output.Span(left)})";
    }

    /// <summary>The APP cell: <c>running</c>, <c>restarting (3 restarts, last exit 1)</c>, <c>exited (1)</c>; <c>-</c> when no launcher reported it.</summary>
    internal static string AppColumn(WorkloadProcess? app)
    {
        if (app is null) return "-";
        var history = app.Restarts == 0 ? ""
            : app.LastExitCode is { } code ? string.Create(CultureInfo.InvariantCulture, $" ({Restarts(app.Restarts)}, last exit {code})")
            : $" ({Restarts(app.Restarts)})";
        return app.State switch
        {
            WorkloadStates.Exited => app.LastExitCode is { } exit ? string.Create(CultureInfo.InvariantCulture, $"exited ({exit})") : "exited",
            WorkloadStates.Stopped => "stopped",
            // running, restarting, starting, and any state a newer launcher may report.
            var state => state + history,
        };
    }

    /// <summary>The app process beside each sidecar, by instance id (a sidecar's proxy id is its app's instance).</summary>
    internal static IReadOnlyDictionary<string, WorkloadProcess> AppsByInstance(WorkloadsResponse? workloads)
    {
        var apps = new Dictionary<string, WorkloadProcess>(StringComparer.Ordinal);
        if (workloads?.Launchers is null) return apps;
        // Two launchers claiming one instance: the latest report wins.
        foreach (var launcher in workloads.Launchers.OrderBy(l => l.ReportedAt))
            foreach (var process in launcher.Processes)
                if (process.Role == WorkloadRoles.App) apps[process.Instance] = process;
        return apps;
    }

    /// <summary>The proxies document of -o json|yaml, each proxy with an <c>app</c> object (null when none was reported).</summary>
    internal static JsonNode WithApps(ProxiesResponse status, IReadOnlyDictionary<string, WorkloadProcess> apps)
    {
        var document = JsonSerializer.SerializeToNode(status, ApiJson.Options)!;
        foreach (var (proxy, node) in status.Proxies.Zip(document["proxies"]!.AsArray()))
            node!.AsObject()["app"] = AppOf(proxy.Id, proxy.Role, apps) is { } app ? JsonSerializer.SerializeToNode(app, ApiJson.Options) : null;
        return document;
    }

    private static WorkloadProcess? AppOf(string proxyId, string proxyRole, IReadOnlyDictionary<string, WorkloadProcess> apps) =>
        proxyRole == "sidecar" && apps.TryGetValue(proxyId, out var app) ? app : null;

    /// <summary>
    /// The launchers' reports, or null when there are none to read: a control plane older than
    /// /workloads answers 404, and the APP column then shows "-" rather than failing the command.
    /// </summary>
    private static async Task<WorkloadsResponse?> ReadWorkloadsAsync(ApiClient client, CancellationToken ct)
    {
        try
        {
            var response = await client.GetAsync("workloads", ct).ConfigureAwait(false);
            return response.Ok ? response.Read<WorkloadsResponse>() : null;
        }
        catch (Exception e) when (e is ControlUnreachableException or JsonException or InvalidDataException)
        {
            return null;
        }
    }

    private static string Restarts(int n) => n == 1 ? "1 restart" : string.Create(CultureInfo.InvariantCulture, $"{n} restarts");
}
