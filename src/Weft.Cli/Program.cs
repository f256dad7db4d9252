using Weft.Cli;

return await WeftCommand.RunAsync(args);
