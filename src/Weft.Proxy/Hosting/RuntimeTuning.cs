using System.Runtime.CompilerServices;
using System.Text;

namespace Weft.Proxy.Hosting;

/// <summary>
/// Runtime settings a sidecar needs that .NET reads only from the environment at startup: when the
/// proxy starts without them, it re-executes itself with them set, same PID, same arguments.
/// <list type="bullet">
/// <item>On the JIT (`weft proxy` in weft.dll): tiered compilation promotes hot methods only after
/// 100 ms without new tier-0 code, ten times that when the process may use one CPU (a sidecar pinned
/// or limited to one core), and every newly compiled method restarts the wait: a fresh sidecar ran its
/// request path unoptimized for seconds under load (bench: chain 15 k rps after 3 s of warm-up, 21 k
/// with no delay).</item>
/// <item>Ahead of time (`weft-proxy`): the gen0 budget. The runtimeconfig knob the JIT build caps it
/// with (System.GC.Gen0MaxBudget) is not read by NativeAOT's GC; its gen0 size is, from the
/// environment only: 4 MB holds GC-committed memory under 1000 connections at ~29 MB instead of ~42.</item>
/// </list>
/// </summary>
public static class RuntimeTuning
{
    private const string Marker = "WEFT_RUNTIME_TUNED";

    private static readonly (string Name, string Value)[] JitSettings = [("DOTNET_TC_CallCountingDelayMs", "0")];
    private static readonly (string Name, string Value)[] NativeSettings = [("DOTNET_GCgen0size", "400000")];   // hex: 4 MB

    /// <summary>The settings this build of the proxy needs.</summary>
    private static IReadOnlyList<(string Name, string Value)> Settings =>
        RuntimeFeature.IsDynamicCodeSupported ? JitSettings : NativeSettings;

    /// <summary>Call first thing in a proxy process. Returns only if nothing needs changing or the re-exec is not possible (then the proxy runs untuned).</summary>
    public static void EnsureForProxy()
    {
        if (!OperatingSystem.IsLinux() || Environment.GetEnvironmentVariable(Marker) is not null)
            return;
        var missing = Settings.Where(s => Environment.GetEnvironmentVariable(s.Name) is null).ToArray();
        if (missing.Length == 0)
            return;
        string[] argv;
        try
        {
            // The command line exactly as this process got it (dotnet weft.dll ..., the apphost, or weft-proxy).
            var raw = File.ReadAllBytes("/proc/self/cmdline");
            argv = Encoding.UTF8.GetString(raw).TrimEnd('\0').Split('\0');
        }
        catch (IOException)
        {
            return;
        }
        Environment.SetEnvironmentVariable(Marker, "1");
        foreach (var (name, value) in missing)
            Environment.SetEnvironmentVariable(name, value);
        // The executable's own path, not /proc/self/exe: the kernel names the process after the file
        // exec'd, and operators look for weft-proxy (or dotnet) in ps and top, not "exe".
        var errno = ProcessImage.Replace(Environment.ProcessPath ?? "/proc/self/exe", argv);
        // Still here: exec failed; run as we are.
        Console.Error.WriteLine($"weft proxy: could not re-execute with {string.Join(' ', missing.Select(m => m.Name + "=" + m.Value))} (errno {errno}); running without");
    }
}
