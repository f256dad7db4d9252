using System.CommandLine;
using System.Globalization;
using Weft.Control.Api;

namespace Weft.Cli.Commands;

/// <summary>`weft status [-o table|json|yaml]`: every proxy and how far its config has synced.</summary>
internal static class StatusCommand
{
    public static Command Create()
    {
        var command = new Command("status", "Show every proxy: service, version, addresses, config revision acknowledged, sync state");
        var output = Output.CreateOption();
        var control = ConfigCommands.CreateControlOption();
        command.Options.Add(output);
        command.Options.Add(control);

        ConfigCommands.SetClientAction(command, control, async (parseResult, client, ct) =>
        {
            var response = await client.GetAsync("proxies", ct).ConfigureAwait(false);
            if (!response.Ok) return ConfigCommands.Refused(parseResult, response);
            var status = response.Read<ProxiesResponse>();
            var writer = parseResult.InvocationConfiguration.Output;
            var format = parseResult.GetValue(output);
            if (format != OutputFormat.Table)
            {
                Output.WriteDocument(writer, status, format);
                return ConfigCommands.Ok;
            }
            if (status.Proxies.Count == 0)
            {
                await writer.WriteLineAsync($"no proxies connected (config revision {status.Revision})").ConfigureAwait(false);
                return ConfigCommands.Ok;
            }
            // CERT EXPIRY is "-" until the CA issues workload certificates.
            Output.WriteTable(writer, ["PROXY", "SERVICE", "VERSION", "ROLE", "ADDRESS", "ADMIN", "REVISION", "SYNC", "CERT EXPIRY"],
                status.Proxies.OrderBy(p => p.Service, StringComparer.Ordinal).ThenBy(p => p.Id, StringComparer.Ordinal).Select(p => (IReadOnlyList<string>)
                [
                    p.Id, p.Service, p.Version, p.Role, p.Address, p.AdminUrl,
                    p.RevisionAcked.ToString(CultureInfo.InvariantCulture), p.SyncState, "-",
                ]));
            return ConfigCommands.Ok;
        });
        return command;
    }
}
