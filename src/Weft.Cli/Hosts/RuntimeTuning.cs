using System.Runtime.InteropServices;
using System.Text;

namespace Weft.Cli.Hosts;

/// <summary>
/// Runtime settings a sidecar needs that .NET reads only from the environment at startup (no
/// runtimeconfig knob): when `weft proxy` starts without them, it re-executes itself with them set,
/// same PID, same arguments. Tiered compilation promotes hot methods only after 100 ms without new
/// tier-0 code, ten times that when the process may use one CPU (a sidecar pinned or limited to one
/// core), and every newly compiled method restarts the wait: a fresh sidecar ran its request path
/// unoptimized for seconds under load (bench: chain 15 k rps after 3 s of warm-up, 21 k with no delay).
/// </summary>
internal static class RuntimeTuning
{
    private const string Marker = "WEFT_RUNTIME_TUNED";

    private static readonly (string Name, string Value)[] ProxySettings = [("DOTNET_TC_CallCountingDelayMs", "0")];

    [DllImport("libc", SetLastError = true)]
    private static extern int execve(string path, string?[] argv, string?[] envp);

    /// <summary>Returns only if nothing needs changing or the re-exec is not possible (then the proxy runs untuned).</summary>
    public static void EnsureForProxy(string[] args)
    {
        if (args.Length == 0 || args[0] != "proxy" || !OperatingSystem.IsLinux() || Environment.GetEnvironmentVariable(Marker) is not null)
            return;
        var missing = ProxySettings.Where(s => Environment.GetEnvironmentVariable(s.Name) is null).ToArray();
        if (missing.Length == 0)
            return;
        string?[] argv;
        try
        {
            // The command line exactly as this process got it (dotnet weft.dll ... or the apphost).
            var raw = File.ReadAllBytes("/proc/self/cmdline");
            argv = [.. Encoding.UTF8.GetString(raw).TrimEnd('\0').Split('\0'), null];
        }
        catch (IOException)
        {
            return;
        }
        Environment.SetEnvironmentVariable(Marker, "1");
        foreach (var (name, value) in missing)
            Environment.SetEnvironmentVariable(name, value);
        var env = new List<string?>();
        foreach (System.Collections.DictionaryEntry e in Environment.GetEnvironmentVariables())
            env.Add($"{e.Key}={e.Value}");
        env.Add(null);
        execve("/proc/self/exe", argv, [.. env]);
        // Still here: exec failed; run as we are.
        Console.Error.WriteLine($"weft proxy: could not re-execute with {string.Join(' ', missing.Select(m => m.Name + "=" + m.Value))} (errno {Marshal.GetLastPInvokeError()}); running without");
    }
}
