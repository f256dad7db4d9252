using System.CommandLine;
using System.Globalization;
using Weft.Control.Api;
using ValidationError = Weft.Model.Parsing.ValidationError;

namespace Weft.Cli.Commands;

/// <summary>`weft apply -f FILE|DIR|- [--dry-run] [--wait] [--timeout 30s]`.</summary>
internal static class ApplyCommand
{
    public static Command Create()
    {
        var command = new Command("apply", "Create or update config from YAML; all-or-nothing, every change a new revision");
        var files = FilenameOption("Files, directories (*.yaml, *.yml) or - for stdin, with the resources to apply");
        var dryRun = new Option<bool>("--dry-run") { Description = "Show what would change; store nothing" };
        var wait = new Option<bool>("--wait") { Description = "Wait until every connected proxy has acknowledged the new revision" };
        var timeout = new Option<TimeSpan>("--timeout")
        {
            Description = "How long --wait waits (e.g. 30s, 2m, 500ms)",
            DefaultValueFactory = _ => TimeSpan.FromSeconds(30),
            CustomParser = r => ParseDuration(r.Tokens[0].Value, r),
            HelpName = "DURATION",
        };
        var control = ConfigCommands.CreateControlOption();
        command.Options.Add(files);
        command.Options.Add(dryRun);
        command.Options.Add(wait);
        command.Options.Add(timeout);
        command.Options.Add(control);

        ConfigCommands.SetClientAction(command, control, async (parseResult, client, ct) =>
        {
            var output = parseResult.InvocationConfiguration.Output;
            var error = parseResult.InvocationConfiguration.Error;
            var (read, readError) = await ManifestFiles.ReadAsync(parseResult.GetValue(files)!, Console.In, ct).ConfigureAwait(false);
            if (read is null)
            {
                await error.WriteLineAsync($"weft: {readError}").ConfigureAwait(false);
                return ConfigCommands.Failed;
            }
            var response = await client.PostAsync("apply", new ApplyRequest(read, parseResult.GetValue(dryRun)), ct).ConfigureAwait(false);
            if (!TryReadChange(parseResult, response, out var result, out var exitCode)) return exitCode;
            Output.WriteChanges(output, result);
            if (!parseResult.GetValue(wait) || result.DryRun) return ConfigCommands.Ok;
            return await WaitForSyncAsync(parseResult, client, result.Revision, parseResult.GetValue(timeout), ct).ConfigureAwait(false);
        });
        return command;
    }

    public static Option<string[]> FilenameOption(string description) => new("--filename", "-f")
    {
        Description = description,
        Required = true,
        HelpName = "FILE|DIR|-",
    };

    /// <summary>A change's answer, or (printed) the reason it was refused: every validation error on its own line.</summary>
    public static bool TryReadChange(ParseResult parseResult, ApiResponse response, out ChangeResponse result, out int exitCode)
    {
        result = null!;
        exitCode = ConfigCommands.Failed;
        if (response.Status == System.Net.HttpStatusCode.UnprocessableEntity)
        {
            var error = parseResult.InvocationConfiguration.Error;
            foreach (var e in response.Read<ValidationErrorsResponse>().Errors) error.WriteLine(Describe(e));
            error.WriteLine("weft: nothing was stored");
            return false;
        }
        if (!response.Ok)
        {
            exitCode = ConfigCommands.Refused(parseResult, response);
            return false;
        }
        result = response.Read<ChangeResponse>();
        exitCode = ConfigCommands.Ok;
        return true;
    }

    private static string Describe(ValidationError e) => e.File.Length == 0 ? $"weft: {e.Message}" : e.ToString();

    private static async Task<int> WaitForSyncAsync(ParseResult parseResult, ApiClient client, long revision, TimeSpan timeout, CancellationToken ct)
    {
        var seconds = timeout.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture);
        // The server holds the request up to the timeout; give the HTTP call a margin beyond it.
        var response = await client.GetAsync($"sync?revision={revision}&timeoutSeconds={seconds}", ct, timeout + TimeSpan.FromSeconds(15)).ConfigureAwait(false);
        if (!response.Ok) return ConfigCommands.Refused(parseResult, response);
        var sync = response.Read<SyncResponse>();
        if (sync.Synced)
        {
            await parseResult.InvocationConfiguration.Output.WriteLineAsync($"every connected proxy acknowledged revision {revision}").ConfigureAwait(false);
            return ConfigCommands.Ok;
        }
        var error = parseResult.InvocationConfiguration.Error;
        await error.WriteLineAsync($"weft: {sync.Pending.Count} {(sync.Pending.Count == 1 ? "proxy has" : "proxies have")} not acknowledged revision {revision} after {seconds}s:").ConfigureAwait(false);
        Output.WriteTable(error, ["PROXY", "SERVICE", "REVISION", "SYNC"],
            sync.Pending.Select(p => (IReadOnlyList<string>)[p.Id, p.Service, p.RevisionAcked.ToString(CultureInfo.InvariantCulture), p.SyncState]));
        return ConfigCommands.Failed;
    }

    /// <summary>Go-style durations as users type them for kubectl: 500ms, 30s, 2m, 1h, and days (30d); a bare number is seconds.</summary>
    internal static TimeSpan ParseDuration(string text, System.CommandLine.Parsing.ArgumentResult result)
    {
        (string Suffix, double Scale)[] units = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)];
        foreach (var (suffix, scale) in units)
        {
            if (text.EndsWith(suffix, StringComparison.Ordinal) &&
                double.TryParse(text[..^suffix.Length], NumberStyles.Float, CultureInfo.InvariantCulture, out var n) && n >= 0)
                return TimeSpan.FromSeconds(n * scale);
        }
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && seconds >= 0)
            return TimeSpan.FromSeconds(seconds);
        result.AddError($"'{text}' is not a duration: use e.g. 30s, 2m, 500ms or 30d");
        return default;
    }
}
