using System.Runtime.InteropServices;

namespace Weft.Cli.Up;

/// <summary>The libc calls Process does not offer: it can only SIGKILL, and only one process.</summary>
internal static partial class Posix
{
    public const int SIGKILL = 9;
    public const int SIGTERM = 15;

    /// <summary>kill(2): a negative pid signals that process group. True when delivered.</summary>
    public static bool Signal(int pid, int signal) => kill(pid, signal) == 0;

    [DllImport("libc", SetLastError = true)]
#pragma warning disable SYSLIB1054 // LibraryImport needs AllowUnsafeBlocks, which the project does not set.
    private static extern int kill(int pid, int sig);
#pragma warning restore SYSLIB1054
}
