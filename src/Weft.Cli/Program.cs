using Weft.Cli;
using Weft.Cli.Hosts;
using Weft.Proxy.Hosting;

if (args is ["proxy", ..])
{
    if (NativeProxy.Handoff(args) is { } exit)
        return exit;
    RuntimeTuning.EnsureForProxy();
}
return await WeftCommand.RunAsync(args);
