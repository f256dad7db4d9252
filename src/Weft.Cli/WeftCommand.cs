using System.CommandLine;

namespace Weft.Cli;

/// <summary>The `weft` command tree; each subcommand lives in Commands/.</summary>
internal static class WeftCommand
{
    public static Task<int> RunAsync(string[] args)
    {
        var root = new RootCommand("weft: a service mesh. Run `weft up` to bring the demo mesh up.");
        return root.Parse(args).InvokeAsync();
    }
}
