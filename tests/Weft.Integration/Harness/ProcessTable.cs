namespace Weft.Integration.Harness;

/// <summary>Facts about live processes from /proc.</summary>
internal static class ProcessTable
{
    /// <summary>Every live (not zombie) process's pid, parent and process group.</summary>
    public static List<(int Pid, int Parent, int Group)> Live()
    {
        var result = new List<(int, int, int)>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                if (fields[0] is "Z" or "X") continue;
                result.Add((pid, int.Parse(fields[1]), int.Parse(fields[2])));
            }
            catch (IOException) { }
        }
        return result;
    }

    /// <summary>Every live descendant of <paramref name="root"/>.</summary>
    public static List<int> Descendants(int root)
    {
        var table = Live();
        var result = new List<int>();
        var frontier = new Queue<int>([root]);
        while (frontier.TryDequeue(out var p))
            foreach (var (child, parent, _) in table)
                if (parent == p) { result.Add(child); frontier.Enqueue(child); }
        return result;
    }

    /// <summary>Of <paramref name="pids"/>, the processes still alive, and any live process in a group one of them led.</summary>
    public static List<string> LeftOf(IReadOnlyCollection<int> pids)
    {
        var set = pids.ToHashSet();
        return Live().Where(p => set.Contains(p.Pid) || set.Contains(p.Group))
            .Select(p => $"{p.Pid} (group {p.Group}): {Command(p.Pid)}").ToList();
    }

    private static string Command(int pid)
    {
        try { return File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ').Trim(); }
        catch (IOException) { return "?"; }
    }
}
