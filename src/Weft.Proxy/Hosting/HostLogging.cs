using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace Weft.Proxy.Hosting;

/// <summary>One-line console logs for the long-running processes (weft up tags each line with the process).</summary>
public static class HostLogging
{
    /// <summary>
    /// WEFT_LOG_LEVEL (trace, debug, information, warning, error) overrides the level; below warning it
    /// opens Kestrel's own logs too (connections, HTTP/2 streams), which are otherwise warnings only.
    /// </summary>
    public static ILoggerFactory Create(LogLevel level = LogLevel.Information) => LoggerFactory.Create(b =>
    {
        if (Enum.TryParse<LogLevel>(Environment.GetEnvironmentVariable("WEFT_LOG_LEVEL"), ignoreCase: true, out var chosen))
            level = chosen;
        b.SetMinimumLevel(level);
        var framework = level < LogLevel.Information ? level : LogLevel.Warning;
        b.AddFilter("Microsoft.AspNetCore", framework);
        b.AddFilter("Microsoft.Hosting", LogLevel.Warning);
        b.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss.fff ";
            o.ColorBehavior = LoggerColorBehavior.Disabled;
        });
    });
}
