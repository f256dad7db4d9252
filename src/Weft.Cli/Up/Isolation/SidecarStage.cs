using Weft.Cli.Hosts;

namespace Weft.Cli.Up.Isolation;

/// <summary>
/// What an isolated sidecar executes, copied into a root-owned, world-readable folder of the run
/// (<see cref="NetnsIsolation.StageDirectory"/>, removed with the run and by the crashed-run clean-up).
/// </summary>
/// <remarks>
/// The sidecar runs as uid 1337 (<see cref="InterceptionRules"/>), which cannot read weft's files in
/// a checkout under a 0700 home (Debian 12's default) or /root. Copying them out keeps the user's
/// folders as they are and gives uid 1337 read access to nothing else; the copies are root's, so the
/// sidecar cannot change what it runs. weft-proxy, when it was built, is run directly: it is the proxy
/// compiled ahead of time and needs no .NET runtime, so a runtime only root can read (dotnet-install
/// into ~/.dotnet) is no obstacle. Without it the whole weft folder is staged and run by the dotnet
/// host, which uid 1337 must then be able to read: checked here, with the fix in the message.
/// </remarks>
internal static class SidecarStage
{
    private const UnixFileMode Open = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
        | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;
    private const UnixFileMode Readable = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    /// <summary>Stages what sidecars run into <paramref name="stage"/> and returns how to run it.</summary>
    /// <param name="weftDirectory">The folder of the running weft.dll (and weft-proxy, when built).</param>
    public static WeftCommandLine Create(string stage, string weftDirectory, WeftCommandLine weft)
    {
        if (!OperatingSystem.IsLinux()) throw new IsolationException("--isolation netns needs Linux");
        var native = File.Exists(Path.Combine(weftDirectory, NativeProxy.FileName));
        var command = Choose(stage, weft, native, Environment.GetEnvironmentVariable(NativeProxy.Variable));
        if (!command.ProxyOnly && command.Prefix.Count > 0 && !ReadableByOthers(command.FileName))
            throw new IsolationException($"sidecars run as uid {InterceptionRules.ProxyUid} and cannot run {command.FileName} (only root can read it): " +
                "build weft-proxy (apt-get install clang; ./weft builds it), which needs no .NET runtime, or install .NET where every user can read it");

        try
        {
            MakeOpenFolder(Path.GetDirectoryName(NetnsIsolation.StageRoot)!);
            MakeOpenFolder(NetnsIsolation.StageRoot);
            MakeOpenFolder(stage);
            if (command.ProxyOnly) CopyFile(Path.Combine(weftDirectory, NativeProxy.FileName), Path.Combine(stage, NativeProxy.FileName));
            else CopyFolder(weftDirectory, stage);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IsolationException($"staging the sidecar's files in {stage}: {e.Message}");
        }
        return command;
    }

    /// <summary>
    /// How sidecars run from <paramref name="stage"/> (pure): weft-proxy when it was built and
    /// WEFT_PROXY_RUNTIME does not ask for the JIT, else this same weft from the stage.
    /// </summary>
    public static WeftCommandLine Choose(string stage, WeftCommandLine weft, bool nativeProxyBuilt, string? runtimeChoice) =>
        nativeProxyBuilt && runtimeChoice != "jit"
            ? new WeftCommandLine(Path.Combine(stage, NativeProxy.FileName), [], ProxyOnly: true)
            : weft.Relocated(stage);

    /// <summary>Whether a user other than the owner can reach and read <paramref name="path"/> (every folder above it searchable).</summary>
    internal static bool ReadableByOthers(string path)
    {
        if (!OperatingSystem.IsLinux()) return true;
        var file = new FileInfo(path);
        var target = file.ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? file.FullName;
        if (!File.Exists(target) || (File.GetUnixFileMode(target) & UnixFileMode.OtherRead) == 0) return false;
        for (var dir = Path.GetDirectoryName(target); dir is not null; dir = Path.GetDirectoryName(dir))
            if ((File.GetUnixFileMode(dir) & UnixFileMode.OtherExecute) == 0) return false;
        return true;
    }

    /// <summary>Creates the folder if needed and opens it for reading and searching (root's umask may be 077).</summary>
    private static void MakeOpenFolder(string path)
    {
        if (!OperatingSystem.IsLinux()) return;
        Directory.CreateDirectory(path);
        File.SetUnixFileMode(path, Open);
    }

    /// <summary>Copies a folder's files and sub-folders into <paramref name="to"/> (made if needed), every copy root's and readable by all.</summary>
    internal static void CopyFolder(string from, string to)
    {
        MakeOpenFolder(to);
        foreach (var dir in Directory.EnumerateDirectories(from, "*", SearchOption.AllDirectories))
            MakeOpenFolder(Path.Combine(to, Path.GetRelativePath(from, dir)));
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
            CopyFile(file, Path.Combine(to, Path.GetRelativePath(from, file)));
    }

    private static void CopyFile(string from, string to)
    {
        File.Copy(from, to, overwrite: true);
        if (!OperatingSystem.IsLinux()) return;
        File.SetUnixFileMode(to, (File.GetUnixFileMode(from) & UnixFileMode.UserExecute) != 0 ? Open : Readable);
    }
}
