using System.CommandLine;
using System.Globalization;
using Weft.Control.Api;
using Weft.Control.Workloads;

namespace Weft.Cli.Commands;

/// <summary>
/// `weft restart INSTANCE` and `weft stop INSTANCE`: a graceful restart or stop of one replica, carried
/// out by the `weft up` that runs it (docs/weft-up.md, "Restarting or stopping one replica"). They
/// follow the action until it is done unless told not to.
/// </summary>
internal static class ReplicaCommands
{
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(200);

    public static Command Create(string action)
    {
        var command = action == WorkloadActions.Restart
            ? new Command("restart", "Restart one replica without failing a request: its endpoint leaves every proxy, its requests in flight finish, its app is stopped and started again, and once it listens its endpoint comes back (a stopped replica is started)")
            : new Command("stop", "Stop one replica for good without failing a request: its endpoint leaves every proxy, its requests in flight finish, then its app and its sidecar stop (`weft restart` starts it again)");
        var instance = new Argument<string>("INSTANCE") { Description = "The replica, as `weft status` names it (PROXY), e.g. catalog-v1-0" };
        var noWait = new Option<bool>("--no-wait") { Description = "Return once the request is accepted instead of following it to the end" };
        var timeout = new Option<double>("--timeout") { Description = "Seconds to follow it before giving up (the action goes on)", DefaultValueFactory = _ => 120 };
        var control = ConfigCommands.CreateControlOption();
        command.Arguments.Add(instance);
        command.Options.Add(noWait);
        command.Options.Add(timeout);
        command.Options.Add(control);

        ConfigCommands.SetClientAction(command, control, async (parseResult, client, ct) =>
        {
            var output = parseResult.InvocationConfiguration.Output;
            var name = parseResult.GetValue(instance)!;
            var accepted = await client.PostAsync($"workloads/{Uri.EscapeDataString(name)}/{action}", ct).ConfigureAwait(false);
            if (!accepted.Ok) return ConfigCommands.Refused(parseResult, accepted);
            var request = accepted.Read<WorkloadAction>();
            await output.WriteLineAsync($"weft: {action} of {name} requested from {request.Launcher}").ConfigureAwait(false);
            if (parseResult.GetValue(noWait)) return ConfigCommands.Ok;
            return await FollowAsync(client, request, TimeSpan.FromSeconds(parseResult.GetValue(timeout)), output, parseResult.InvocationConfiguration.Error, ct).ConfigureAwait(false);
        });
        return command;
    }

    /// <summary>Prints each step the launcher reports until the action is done (0) or failed (1), or the timeout passes (1).</summary>
    private static async Task<int> FollowAsync(ApiClient client, WorkloadAction request, TimeSpan timeout, TextWriter output, TextWriter error, CancellationToken ct)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        limit.CancelAfter(timeout);
        string? said = null;
        var current = request;
        try
        {
            while (true)
            {
                if (current.Message is { } message && message != said)
                {
                    said = message;
                    if (current.State != WorkloadActionStates.Failed) await output.WriteLineAsync($"weft: {current.Instance}: {message}").ConfigureAwait(false);
                }
                if (current.State == WorkloadActionStates.Done) return ConfigCommands.Ok;
                if (current.State == WorkloadActionStates.Failed)
                {
                    await error.WriteLineAsync($"weft: {current.Action} of {current.Instance} failed: {current.Message}").ConfigureAwait(false);
                    return ConfigCommands.Failed;
                }
                await Task.Delay(Poll, limit.Token).ConfigureAwait(false);
                var response = await client.GetAsync($"workloads/actions/{Uri.EscapeDataString(request.Id)}", limit.Token).ConfigureAwait(false);
                if (!response.Ok)
                {
                    await error.WriteLineAsync($"weft: following {request.Action} of {request.Instance}: {response.ErrorMessage()}").ConfigureAwait(false);
                    return ConfigCommands.Failed;
                }
                current = response.Read<WorkloadAction>();
            }
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            await error.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"weft: {current.Action} of {current.Instance} still {current.State} after {timeout.TotalSeconds:0} s ({current.Message ?? "not taken yet"}); `weft status` shows how it goes on")).ConfigureAwait(false);
            return ConfigCommands.Failed;
        }
    }
}
