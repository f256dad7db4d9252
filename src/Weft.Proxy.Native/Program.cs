using System.CommandLine;
using Weft.Proxy.Hosting;

// `weft-proxy --service ...`: the same options as `weft proxy`, which execs this binary when present.
RuntimeTuning.EnsureForProxy();
var root = ProxyCommand.Configure(new RootCommand(ProxyCommand.Description));
return await root.Parse(args).InvokeAsync().ConfigureAwait(false);
