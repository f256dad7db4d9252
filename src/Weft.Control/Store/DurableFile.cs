using System.Runtime.InteropServices;

namespace Weft.Control.Store;

/// <summary>
/// Crash-safe file replacement: temp file, fsync, atomic rename, fsync of the directory. After
/// <see cref="WriteAtomically"/> returns, the file survives kill -9 and power loss; before, it either
/// does not exist or only its temp file does (which readers ignore).
/// </summary>
internal static class DurableFile
{
    public const string TempPrefix = ".tmp-";

    /// <summary>Owner read and write only: for files that hold a secret (created so, never widened first).</summary>
    public const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <param name="replace">Whether an existing file of that name is replaced (revisions never are: one there means a second writer).</param>
    public static void WriteAtomically(string path, ReadOnlySpan<byte> content, UnixFileMode? mode = null, bool replace = false)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        var temp = Path.Combine(dir, $"{TempPrefix}{Path.GetFileName(path)}-{Guid.NewGuid():N}");
        try
        {
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
            if (mode is { } m && !OperatingSystem.IsWindows())
                options.UnixCreateMode = m;
            using (var stream = new FileStream(temp, options))
            {
                stream.Write(content);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, path, overwrite: replace);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
        try
        {
            SyncDirectory(dir);
        }
        catch
        {
            // The caller will not acknowledge this write, so take the file back: left in place it would
            // block the next write of the same name (and a crash now may still leave it: "maybe written").
            TryDelete(path);
            throw;
        }
    }

    /// <summary>Makes a rename in <paramref name="dir"/> durable; .NET has no API for it.</summary>
    public static void SyncDirectory(string dir)
    {
        if (OperatingSystem.IsWindows()) return; // NTFS journals renames; there is no directory handle to flush.
        var fd = Open(dir, 0 /* O_RDONLY */);
        if (fd < 0) throw new IOException($"cannot open directory {dir} to fsync it: errno {Marshal.GetLastPInvokeError()}");
        try
        {
            if (Fsync(fd) != 0) throw new IOException($"fsync of directory {dir} failed: errno {Marshal.GetLastPInvokeError()}");
        }
        finally
        {
            _ = Close(fd);
        }
    }

    public static void TryDelete(string path)
    {
        try { File.Delete(path); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    // DllImport, not LibraryImport: the latter needs AllowUnsafeBlocks for three trivial libc calls.
    [DllImport("libc", EntryPoint = "open", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    [DllImport("libc", EntryPoint = "fsync", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Fsync(int fd);

    [DllImport("libc", EntryPoint = "close", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Close(int fd);
}
