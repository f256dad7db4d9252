using System.Runtime.InteropServices;

namespace Weft.Cli.Up;

/// <summary>The libc calls .NET does not offer: Process can only SIGKILL, and only one process; no API gives a file's owner.</summary>
internal static partial class Posix
{
    public const int SIGKILL = 9;
    public const int SIGTERM = 15;

    private const int AtFdCwd = -100;
    private const uint StatxType = 0x1, StatxMode = 0x2, StatxUid = 0x8, StatxGid = 0x10;
    private const int DirectoryType = 0x4000; // S_IFDIR
    private const int TypeMask = 0xF000;      // S_IFMT

    /// <summary>kill(2): a negative pid signals that process group. True when delivered.</summary>
    public static bool Signal(int pid, int signal) => kill(pid, signal) == 0;

    /// <summary>statx(2) of a path, links followed: its owner, group and mode; null when there is nothing there (or it cannot be read).</summary>
    /// <remarks>struct statx has one layout on every architecture, unlike struct stat: stx_uid at 20, stx_gid at 24, stx_mode at 28.</remarks>
    public static FileStat? Stat(string path)
    {
        if (!OperatingSystem.IsLinux()) return null;
        var buffer = new byte[256];
        if (statx(AtFdCwd, path, 0, StatxType | StatxMode | StatxUid | StatxGid, buffer) != 0) return null;
        var mode = BitConverter.ToUInt16(buffer, 28);
        return new FileStat((int)BitConverter.ToUInt32(buffer, 20), (int)BitConverter.ToUInt32(buffer, 24),
            (UnixFileMode)(mode & 0xFFF), (mode & TypeMask) == DirectoryType);
    }

    /// <summary>realpath(3): the path with every link resolved; null when some part of it is missing.</summary>
    public static string? RealPath(string path)
    {
        if (!OperatingSystem.IsLinux()) return null;
        var resolved = realpath(path, IntPtr.Zero);
        if (resolved == IntPtr.Zero) return null;
        try { return Marshal.PtrToStringUTF8(resolved); }
        finally { free(resolved); }
    }

#pragma warning disable SYSLIB1054 // LibraryImport needs AllowUnsafeBlocks, which the project does not set.
    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int sig);

    [DllImport("libc", SetLastError = true)]
    private static extern int statx(int dirfd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mask, byte[] buffer);

    [DllImport("libc", SetLastError = true)]
    private static extern IntPtr realpath([MarshalAs(UnmanagedType.LPUTF8Str)] string path, IntPtr resolved);

    [DllImport("libc")]
    private static extern void free(IntPtr pointer);
#pragma warning restore SYSLIB1054
}

/// <summary>What the kernel checks a path's access by: owner, group, permission bits, and whether it is a folder.</summary>
internal readonly record struct FileStat(int Uid, int Gid, UnixFileMode Mode, bool IsDirectory);
