using System.CommandLine;
using Weft.Cli.Commands;
using Weft.Cli.Hosts;
using Weft.Cli.Up;
using Weft.Proxy.Hosting;

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
        // The hosts (up, control, proxy) handle SIGTERM/SIGINT themselves and drain in order, which takes
        // as long as their deadline says. System.CommandLine's own handling would end the process 2 s after
        // the signal with code 143, cutting every drain short; client commands just end on the signal.
        return root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null });
    }
}
