using System.CommandLine;
using System.Net;
using Weft.Control.Api;
using Weft.Model.Resources;

namespace Weft.Cli.Commands;

/// <summary>`weft delete -f FILE` or `weft delete KIND NAME [-n NS]`.</summary>
internal static class DeleteCommand
{
    public static Command Create()
    {
        var command = new Command("delete", "Delete config, named in YAML files or as KIND NAME; all-or-nothing, a new revision");
        var kind = new Argument<string?>("KIND") { Description = "Kind as in kubectl (service, httproutes, ...)", Arity = ArgumentArity.ZeroOrOne };
        var name = new Argument<string?>("NAME") { Description = "Resource name", Arity = ArgumentArity.ZeroOrOne };
        var files = ApplyCommand.FilenameOption("Files, directories or - naming the resources to delete");
        files.Required = false;
        var ns = NamespaceOption(ObjectMeta.DefaultNamespace);
        var dryRun = new Option<bool>("--dry-run") { Description = "Show what would be deleted; delete nothing" };
        var ignoreNotFound = new Option<bool>("--ignore-not-found") { Description = "Deleting something absent is not an error" };
        var control = ConfigCommands.CreateControlOption();
        command.Arguments.Add(kind);
        command.Arguments.Add(name);
        command.Options.Add(files);
        command.Options.Add(ns);
        command.Options.Add(dryRun);
        command.Options.Add(ignoreNotFound);
        command.Options.Add(control);
        command.Validators.Add(result =>
        {
            var byFile = result.GetValue(files) is { Length: > 0 };
            var byName = result.GetValue(kind) is not null;
            if (byFile == byName || (byName && result.GetValue(name) is null))
                result.AddError("name what to delete either with -f FILE or as KIND NAME");
        });

        ConfigCommands.SetClientAction(command, control, async (parseResult, client, ct) =>
        {
            ApiResponse response;
            if (parseResult.GetValue(files) is { Length: > 0 } inputs)
            {
                var (read, readError) = await ManifestFiles.ReadAsync(inputs, Console.In, ct).ConfigureAwait(false);
                if (read is null)
                {
                    await parseResult.InvocationConfiguration.Error.WriteLineAsync($"weft: {readError}").ConfigureAwait(false);
                    return ConfigCommands.Failed;
                }
                var request = new ApplyRequest(read, parseResult.GetValue(dryRun), parseResult.GetValue(ignoreNotFound));
                response = await client.PostAsync("delete", request, ct).ConfigureAwait(false);
            }
            else
            {
                var path = $"resources/{Uri.EscapeDataString(parseResult.GetValue(kind)!)}/{Uri.EscapeDataString(parseResult.GetValue(ns)!)}/" +
                    $"{Uri.EscapeDataString(parseResult.GetValue(name)!)}?dryRun={(parseResult.GetValue(dryRun) ? "true" : "false")}";
                response = await client.DeleteAsync(path, ct).ConfigureAwait(false);
                if (response.Status == HttpStatusCode.NotFound && parseResult.GetValue(ignoreNotFound)) return ConfigCommands.Ok;
            }
            if (!ApplyCommand.TryReadChange(parseResult, response, out var result, out var exitCode)) return exitCode;
            Output.WriteChanges(parseResult.InvocationConfiguration.Output, result);
            return ConfigCommands.Ok;
        });
        return command;
    }

    public static Option<string?> NamespaceOption(string? defaultValue) => new("--namespace", "-n")
    {
        Description = defaultValue is null ? "Namespace (default: all namespaces)" : "Namespace",
        DefaultValueFactory = _ => defaultValue,
        HelpName = "NS",
    };
}
