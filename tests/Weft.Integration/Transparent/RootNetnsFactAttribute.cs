namespace Weft.Integration.Transparent;

/// <summary>
/// A test that needs root, ip(8), iptables and network namespaces. Without them it is skipped with
/// the reason, except under CI=true (CI runs as root with the tools), where it runs and fails saying
/// what is missing: a CI that cannot run it must not look green.
/// </summary>
public sealed class RootNetnsFactAttribute : FactAttribute
{
    public RootNetnsFactAttribute()
    {
        if (Environment.GetEnvironmentVariable("CI") != "true" && NetnsRequirements.Missing() is { } reason)
            Skip = reason;
    }
}

internal static class NetnsRequirements
{
    /// <summary>Null when transparent tests can run here; else what is missing.</summary>
    public static string? Missing()
    {
        if (!OperatingSystem.IsLinux()) return "needs Linux network namespaces";
        if (Weft.Cli.Up.Isolation.NetnsIsolation.Unavailable() is { } why) return why;
        if (!File.Exists("/usr/bin/curl")) return "needs curl (apt-get install curl)";
        return null;
    }
}
