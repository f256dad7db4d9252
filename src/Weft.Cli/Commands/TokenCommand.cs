using System.CommandLine;
using Weft.Control.Api;

namespace Weft.Cli.Commands;

/// <summary>`weft token create SERVICE-ACCOUNT [--namespace NS]`: a bootstrap token a proxy proves its service account with.</summary>
internal static class TokenCommand
{
    public static Command Create()
    {
        var create = new Command("create", "Make a bootstrap token for a service account and print it (shown once: only its hash is kept)");
        var account = new Argument<string>("SERVICE-ACCOUNT") { Description = "The service account (a workload's defaults to its service's name)" };
        var ns = new Option<string>("--namespace", "-n") { Description = "Its namespace", DefaultValueFactory = _ => "default" };
        var control = ConfigCommands.CreateControlOption();
        create.Arguments.Add(account);
        create.Options.Add(ns);
        create.Options.Add(control);
        ConfigCommands.SetClientAction(create, control, async (parseResult, client, ct) =>
        {
            var response = await client.PostAsync("tokens", new TokenRequest(parseResult.GetValue(ns), parseResult.GetValue(account)), ct).ConfigureAwait(false);
            if (!response.Ok) return ConfigCommands.Refused(parseResult, response);
            var token = response.Read<TokenResponse>();
            await parseResult.InvocationConfiguration.Output.WriteLineAsync(token.Token).ConfigureAwait(false);
            await parseResult.InvocationConfiguration.Error.WriteLineAsync($"weft: a bootstrap token for {token.SpiffeId}").ConfigureAwait(false);
            return ConfigCommands.Ok;
        });
        return new Command("token", "Bootstrap tokens: how a proxy proves its service account to the CA") { create };
    }
}
