using System.Globalization;

namespace Weft.Cli.Up.Isolation;

/// <summary>How `weft up` looks at paths on behalf of the apps' uid; tests give their own.</summary>
internal sealed record FileView(Func<string, FileStat?> Stat, Func<string, string?> RealPath)
{
    public static readonly FileView Host = new(Posix.Stat, Posix.RealPath);
}

/// <summary>
/// Whether each isolated app can start as its <see cref="AppUser"/>: its working directory enterable,
/// its command executable (found through PATH as execvp finds it), every argument that names an
/// existing file readable (a folder: readable and enterable), and every folder above each of them
/// enterable. Checked before anything starts, so that a closed folder is one error naming the
/// workload, the path, the uid and the fix, not an app that exits at once and restarts forever. Pure
/// over a <see cref="FileView"/>.
/// </summary>
/// <remarks>
/// Decided by owner, group and mode bits, as the kernel decides for a uid without supplementary groups
/// (the apps have none). ACLs are not read: a folder opened to the uid by an ACL alone counts as closed.
/// Only whole arguments are taken for paths: `--config=/x` is not looked into, nor are env values.
/// </remarks>
internal static class AppAccess
{
    /// <summary>A change that would open a path to the uid: chmod's <c>o+x</c> (or <c>u+</c>, <c>g+</c>) and the path.</summary>
    public sealed record Fix(string Change, string Path);

    public sealed record Problem(string Text, IReadOnlyList<Fix> Fixes);

    /// <summary>Null when every replica's app can start as its user; else the error: each problem on a line, then the fix.</summary>
    /// <param name="environment">weft up's own environment, whose PATH an app inherits unless its env sets one.</param>
    public static string? Check(IReadOnlyList<ReplicaLaunch> replicas, FileView files, Func<string, string?> environment)
    {
        var problems = replicas.SelectMany(r => Problems(r, files, environment)).ToList();
        if (problems.Count == 0) return null;
        var user = replicas.Select(r => r.AppUser).First(u => u is not null)!;
        var chmod = string.Join("; ", problems.SelectMany(p => p.Fixes).Distinct()
            .GroupBy(f => f.Change, StringComparer.Ordinal)
            .Select(g => $"chmod {g.Key} {string.Join(' ', g.Select(f => f.Path))}"));
        var fix = user.IsSudoUser
            ? $"open them to uid {user.UidText} ({chmod}), or move the app's files where uid {user.UidText} can read them"
            : $"run weft up with sudo as the user who owns these files (apps then run as that user), or move the checkout to a folder other users can read, or open them ({chmod})";
        return $"with --isolation netns apps run as uid {user.UidText} gid {user.GidText} ({user.Source}), without capabilities, and some could not start:\n  "
            + string.Join("\n  ", problems.Select(p => p.Text).Distinct(StringComparer.Ordinal))
            + "\nTo fix it: " + fix + ".";
    }

    /// <summary>What keeps one replica's app from starting as its user; empty when nothing does (or it runs as whoever runs weft up).</summary>
    public static IReadOnlyList<Problem> Problems(ReplicaLaunch replica, FileView files, Func<string, string?> environment)
    {
        if (replica.AppUser is not { } user) return [];
        var problems = new List<Problem>();
        var cwd = replica.WorkingDirectory;
        var prefix = $"workload {replica.Workload.Name}: uid {user.UidText} cannot";

        if (Closed(cwd, "x", user, files) is { Count: > 0 } closedCwd)
            problems.Add(new Problem($"{prefix} enter its working directory {cwd}: {Describe(closedCwd)}", Fixes(closedCwd)));

        if (Executable(replica, cwd, user, files, environment) is var (candidate, closedExe))
            problems.Add(new Problem($"{prefix} run its command {replica.AppFileName} ({candidate}): {Describe(closedExe)}", Fixes(closedExe)));

        foreach (var argument in replica.AppArguments)
        {
            if (argument.Length == 0 || argument[0] == '-') continue;
            var path = Path.GetFullPath(argument, cwd);
            if (files.Stat(path) is not { } stat) continue;
            if (Closed(path, stat.IsDirectory ? "rx" : "r", user, files) is { Count: > 0 } closedArg)
                problems.Add(new Problem($"{prefix} read {argument}{(argument == path ? "" : $" ({path})")}: {Describe(closedArg)}", Fixes(closedArg)));
        }
        return problems;
    }

    /// <summary>
    /// The app's executable as execvp finds it after the uid change: a name with '/' as is (from the
    /// working directory), else the first file on PATH the uid may run, skipping those it may not.
    /// Null when one may be run, or none exists (that error is the app's own, as without isolation).
    /// </summary>
    private static (string Path, List<Closure> Closed)? Executable(ReplicaLaunch replica, string cwd, AppUser user, FileView files,
        Func<string, string?> environment)
    {
        var name = replica.AppFileName;
        var search = replica.AppEnvironment.GetValueOrDefault("PATH") ?? environment("PATH") ?? "/usr/local/bin:/usr/bin:/bin";
        var candidates = name.Contains('/', StringComparison.Ordinal)
            ? [Path.GetFullPath(name, cwd)]
            : search.Split(':').Select(dir => Path.GetFullPath(Path.Combine(dir, name), cwd));
        (string, List<Closure>)? first = null;
        foreach (var candidate in candidates)
        {
            if (files.Stat(candidate) is not { IsDirectory: false }) continue;
            var closed = Closed(candidate, "x", user, files);
            if (closed.Count == 0) return null;
            first ??= (candidate, closed);
        }
        return first;
    }

    /// <summary>One path the uid lacks a permission on: the path, what it is, and what it lacks (chmod letters).</summary>
    private sealed record Closure(string Path, FileStat Stat, char Class, string Missing);

    /// <summary>
    /// Every folder above <paramref name="path"/> (and above where its links lead) the uid cannot enter,
    /// and the path itself when it lacks <paramref name="need"/> ("r", "x" or "rx"), topmost first.
    /// </summary>
    private static List<Closure> Closed(string path, string need, AppUser user, FileView files)
    {
        var closed = new List<Closure>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var walk in new[] { Path.GetFullPath(path), files.RealPath(path) })
        {
            if (walk is null) continue;
            var folders = new List<string>();
            for (var dir = Path.GetDirectoryName(walk); dir is not null; dir = Path.GetDirectoryName(dir)) folders.Add(dir);
            folders.Reverse();
            foreach (var folder in folders) Test(folder, "x");
            Test(walk, need);
        }
        return closed;

        void Test(string at, string wanted)
        {
            if (!seen.Add(at + "\0" + wanted) || files.Stat(at) is not { } stat) return;
            var cls = stat.Uid == user.Uid ? 'u' : stat.Gid == user.Gid ? 'g' : 'o';
            var missing = string.Concat(wanted.Where(p => (stat.Mode & Bit(cls, p)) == 0));
            if (missing.Length > 0) closed.Add(new Closure(at, stat, cls, missing));
        }
    }

    private static UnixFileMode Bit(char cls, char permission) => (cls, permission) switch
    {
        ('u', 'r') => UnixFileMode.UserRead,
        ('u', _) => UnixFileMode.UserExecute,
        ('g', 'r') => UnixFileMode.GroupRead,
        ('g', _) => UnixFileMode.GroupExecute,
        (_, 'r') => UnixFileMode.OtherRead,
        _ => UnixFileMode.OtherExecute,
    };

    private static string Describe(List<Closure> closed) => string.Join("; ", closed.Select(c =>
        $"{c.Path} is {Convert.ToString((int)c.Stat.Mode, 8).PadLeft(4, '0')}, owner {c.Stat.Uid.ToString(CultureInfo.InvariantCulture)} group {c.Stat.Gid.ToString(CultureInfo.InvariantCulture)}"));

    private static List<Fix> Fixes(List<Closure> closed) => [.. closed.Select(c => new Fix($"{c.Class}+{c.Missing}", c.Path))];
}
