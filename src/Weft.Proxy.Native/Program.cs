using System.CommandLine;
using Weft.Proxy.Hosting;

// `weft-proxy --service ...`: the same options as `weft proxy`, which execs this binary when present.
RuntimeTuning.EnsureForProxy();
var root = new RootCommand(ProxyCommand.Description);
// --version is the workload's version here, as in `weft proxy`, not the root command's built-in one.
foreach (var builtIn in root.Options.OfType<VersionOption>().ToList())
    root.Options.Remove(builtIn);
ProxyCommand.Configure(root);
return await root.Parse(args).InvokeAsync().ConfigureAwait(false);
