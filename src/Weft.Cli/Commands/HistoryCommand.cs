using System.CommandLine;
using System.Globalization;
using Weft.Control.Api;

namespace Weft.Cli.Commands;

/// <summary>`weft history [-o table|json|yaml]`: every accepted config change, oldest first.</summary>
internal static class HistoryCommand
{
    public static Command Create()
    {
        var command = new Command("history", "List every config revision: when, what caused it, what changed");
        var output = Output.CreateOption();
        var control = ConfigCommands.CreateControlOption();
        command.Options.Add(output);
        command.Options.Add(control);

        ConfigCommands.SetClientAction(command, control, async (parseResult, client, ct) =>
        {
            var response = await client.GetAsync("history", ct).ConfigureAwait(false);
            if (!response.Ok) return ConfigCommands.Refused(parseResult, response);
            var history = response.Read<HistoryResponse>();
            var writer = parseResult.InvocationConfiguration.Output;
            var format = parseResult.GetValue(output);
            if (format != OutputFormat.Table)
            {
                Output.WriteDocument(writer, history, format);
                return ConfigCommands.Ok;
            }
            if (history.Revisions.Count == 0)
            {
                await writer.WriteLineAsync("no revisions yet: nothing has been applied").ConfigureAwait(false);
                return ConfigCommands.Ok;
            }
            Output.WriteTable(writer, ["REVISION", "TIME", "CAUSE", "RESOURCES", "CHANGES"], history.Revisions.Select(r => (IReadOnlyList<string>)
            [
                r.Revision.ToString(CultureInfo.InvariantCulture) + (r.Revision == history.Revision ? " (current)" : ""),
                r.Time.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture),
                r.Cause,
                r.ResourceCount.ToString(CultureInfo.InvariantCulture),
                Summary(r.Changes),
            ]));
            return ConfigCommands.Ok;
        });
        return command;
    }

    /// <summary>"2 created, 1 configured": counts in a fixed order so rows compare at a glance.</summary>
    private static string Summary(IReadOnlyList<ApiChange> changes)
    {
        var parts = new[] { "created", "configured", "deleted" }
            .Select(a => (Action: a, Count: changes.Count(c => c.Action == a)))
            .Where(p => p.Count > 0)
            .Select(p => $"{p.Count} {p.Action}");
        return string.Join(", ", parts) is { Length: > 0 } s ? s : "-";
    }
}
