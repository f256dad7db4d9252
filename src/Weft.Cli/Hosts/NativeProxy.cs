using Weft.Proxy.Hosting;

namespace Weft.Cli.Hosts;

/// <summary>
/// `weft proxy` hands itself over to `weft-proxy`, the same command compiled ahead of time
/// (src/Weft.Proxy.Native), when that binary sits beside weft.dll: no JIT and no IL to map, so a
/// sidecar holds about a third of the memory (docs/PERFORMANCE.md, "Memory"). Same PID, same
/// arguments (exec), so `weft up`, a supervisor or a test still signals the process it started.
/// WEFT_PROXY_RUNTIME=jit keeps the proxy in this process (on .NET's JIT); =native insists on the binary.
/// </summary>
internal static class NativeProxy
{
    public const string Variable = "WEFT_PROXY_RUNTIME";
    public const string FileName = "weft-proxy";

    /// <summary>For `weft proxy`: returns only when the proxy runs in this process; an exit code when it cannot run at all.</summary>
    public static int? Handoff(string[] args)
    {
        if (!OperatingSystem.IsLinux())
            return null;
        var choice = Environment.GetEnvironmentVariable(Variable);
        if (choice == "jit")
            return null;
        if (choice is not (null or "" or "native"))
        {
            Console.Error.WriteLine($"weft proxy: {Variable}={choice}: expected native or jit");
            return 2;
        }
        var binary = Path.Combine(AppContext.BaseDirectory, FileName);
        if (!File.Exists(binary))
        {
            if (choice != "native")
                return null;
            Console.Error.WriteLine($"weft proxy: {Variable}=native but {binary} is missing (./weft builds it when clang is installed)");
            return 2;
        }
        var errno = ProcessImage.Replace(binary, [binary, .. args.AsSpan(1)]);
        Console.Error.WriteLine($"weft proxy: could not start {binary} (errno {errno})");
        return 1;
    }
}
