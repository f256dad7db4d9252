using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace Weft.Cli.Hosts;

/// <summary>One-line console logs for the long-running processes (weft up tags each line with the process).</summary>
internal static class HostLogging
{
    public static ILoggerFactory Create(LogLevel level = LogLevel.Information) => LoggerFactory.Create(b =>
    {
        b.SetMinimumLevel(level);
        b.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        b.AddFilter("Microsoft.Hosting", LogLevel.Warning);
        b.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss.fff ";
            o.ColorBehavior = LoggerColorBehavior.Disabled;
        });
    });
}
