using System.CommandLine;
using Weft.Control.Workloads;

namespace Weft.Cli.Commands;

/// <summary>
/// The client commands over the control plane's HTTP API: apply, delete, get, history, rollback, status,
/// and restart and stop of one replica.
/// The root command adds these; each carries its own --control so it works without a global option.
/// </summary>
internal static class ConfigCommands
{
    public const string ControlEnvironmentVariable = "WEFT_CONTROL";
    public const string DefaultControl = "http://127.0.0.1:15014";

    /// <summary>Exit codes: 0 done, 1 refused or failed, 2 the control plane could not be reached.</summary>
    public const int Ok = 0, Failed = 1, Unreachable = 2;

    public static IEnumerable<Command> Create() =>
    [
        ApplyCommand.Create(),
        DeleteCommand.Create(),
        GetCommand.Create(),
        HistoryCommand.Create(),
        RollbackCommand.Create(),
        StatusCommand.Create(),
        TokenCommand.Create(),
        CaCommand.Create(),
        CheckCommand.Create(),
        ReplicaCommands.Create(WorkloadActions.Restart),
        ReplicaCommands.Create(WorkloadActions.Stop),
    ];

    public static Option<string> CreateControlOption() => new("--control")
    {
        Description = $"Control plane HTTP API URL (env {ControlEnvironmentVariable})",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable(ControlEnvironmentVariable) is { Length: > 0 } env ? env : DefaultControl,
        HelpName = "URL",
    };

    /// <summary>
    /// Runs <paramref name="body"/> with a client for --control, turning the one failure every command
    /// shares (control plane unreachable) into one line and exit code 2 instead of a stack trace.
    /// </summary>
    public static void SetClientAction(Command command, Option<string> control,
        Func<ParseResult, ApiClient, CancellationToken, Task<int>> body)
    {
        command.SetAction(async (parseResult, ct) =>
        {
            var error = parseResult.InvocationConfiguration.Error;
            var url = parseResult.GetValue(control)!;
            if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            {
                await error.WriteLineAsync($"weft: --control must be an http:// or https:// URL, not '{url}'").ConfigureAwait(false);
                return Unreachable;
            }
            using var client = new ApiClient(uri);
            try
            {
                return await body(parseResult, client, ct).ConfigureAwait(false);
            }
            catch (ControlUnreachableException e)
            {
                await error.WriteLineAsync(e.Message).ConfigureAwait(false);
                return Unreachable;
            }
        });
    }

    /// <summary>Prints a refused request's message and returns the exit code for it.</summary>
    public static int Refused(ParseResult parseResult, ApiResponse response)
    {
        parseResult.InvocationConfiguration.Error.WriteLine($"weft: {response.ErrorMessage()}");
        return Failed;
    }
}
