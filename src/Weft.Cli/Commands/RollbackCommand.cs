using System.CommandLine;
using Weft.Control.Api;

namespace Weft.Cli.Commands;

/// <summary>`weft rollback [REVISION]`: a new revision holding the config of REVISION (default: the one before the latest).</summary>
internal static class RollbackCommand
{
    public static Command Create()
    {
        var command = new Command("rollback", "Return the config to REVISION (default: the one before the latest); itself a new revision");
        var revision = new Argument<long?>("REVISION") { Description = "Revision to return to (see `weft history`); 0 is the empty config", Arity = ArgumentArity.ZeroOrOne };
        var control = ConfigCommands.CreateControlOption();
        command.Arguments.Add(revision);
        command.Options.Add(control);

        ConfigCommands.SetClientAction(command, control, async (parseResult, client, ct) =>
        {
            var response = await client.PostAsync("rollback", new RollbackRequest(parseResult.GetValue(revision)), ct).ConfigureAwait(false);
            if (!ApplyCommand.TryReadChange(parseResult, response, out var result, out var exitCode)) return exitCode;
            Output.WriteChanges(parseResult.InvocationConfiguration.Output, result with { Changes = result.Changes.Where(c => c.Action != "unchanged").ToList() });
            return ConfigCommands.Ok;
        });
        return command;
    }
}
