using System.CommandLine;
using Weft.Cli.Commands;
using Weft.Cli.Hosts;
using Weft.Cli.Up;

namespace Weft.Cli;

/// <summary>The `weft` command tree: the hosts (up, control, proxy) and the client commands over the HTTP API.</summary>
internal static class WeftCommand
{
    public static Task<int> RunAsync(string[] args)
    {
        var root = new RootCommand("weft: a service mesh. `weft up` brings the demo mesh up on this machine.");
        root.Subcommands.Add(UpCommand.Create());
        root.Subcommands.Add(ControlCommand.Create());
        root.Subcommands.Add(ProxyCommand.Create());
        foreach (var command in ConfigCommands.Create()) root.Subcommands.Add(command);
        return root.Parse(args).InvokeAsync();
    }
}
