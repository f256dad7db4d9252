using System.Runtime.InteropServices;

namespace Weft.Proxy.Hosting;

/// <summary>execve(2) for `weft proxy`: the process becomes another program (or itself again) with the same PID, so whoever started it (weft up, systemd, a test) still holds the right process to signal.</summary>
public static class ProcessImage
{
    [DllImport("libc", SetLastError = true)]
#pragma warning disable SYSLIB1054 // LibraryImport needs AllowUnsafeBlocks, which the project does not set.
    private static extern int execve(string path, string?[] argv, string?[] envp);
#pragma warning restore SYSLIB1054

    /// <summary>Returns only when the exec failed: then the errno.</summary>
    public static int Replace(string path, IReadOnlyList<string> argv)
    {
        var env = new List<string?>();
        foreach (System.Collections.DictionaryEntry e in Environment.GetEnvironmentVariables())
            env.Add($"{e.Key}={e.Value}");
        env.Add(null);
        execve(path, [.. argv, null], [.. env]);
        return Marshal.GetLastPInvokeError();
    }
}
