using Weft.Cli;
using Weft.Cli.Hosts;

RuntimeTuning.EnsureForProxy(args);
return await WeftCommand.RunAsync(args);
