using System.Diagnostics;
using System.Globalization;

namespace Weft.Cli.Up.Isolation;

/// <summary>
/// Makes and removes the network of one `weft up --isolation netns` run with ip(8) and
/// iptables-restore(8): a bridge in the root namespace, and per replica a namespace on it with its
/// interception rules and hosts file. Everything carries the run's prefix, and a state file
/// (/run/weft/netns/PREFIX.pid) says which `weft up` owns it, so a later run removes what a crashed
/// one left without touching a live run's.
/// </summary>
/// <remarks>
/// The bridge's alias names the owner too (<c>weft up pid N</c>): /run belongs to a mount namespace,
/// while links and /etc/netns are seen by every run on the machine. A run whose /run is another one
/// (a container, `unshare --mount`, a fresh boot's) cannot read the owner's state file, and must not
/// take the owner's live bridge and hosts folders for a crashed run's.
/// Nothing here assumes a folder exists because an earlier run made it: /run/weft, /run/netns,
/// /etc/netns and the stage folder may each be missing (a reboot empties /run but not /etc).
/// </remarks>
internal sealed class NetnsIsolation : IDisposable
{
    private const string StateDirectory = "/run/weft/netns";
    private const string NetnsEtc = "/etc/netns";
    /// <summary>Where a run stages what its sidecars execute (<see cref="SidecarStage"/>): not /run, which is often mounted noexec.</summary>
    public const string StageRoot = "/var/lib/weft/netns";
    private const string OwnerAliasPrefix = "weft up pid ";
    private readonly TextWriter _log;
    private bool _disposed;

    private NetnsIsolation(NetnsLayout layout, TextWriter log)
    {
        Layout = layout;
        _log = log;
    }

    public NetnsLayout Layout { get; }

    /// <summary>Null when this machine can isolate (root, ip, iptables-restore, setpriv); else why not.</summary>
    public static string? Unavailable()
    {
        if (!OperatingSystem.IsLinux()) return "--isolation netns needs Linux";
        if (geteuid() != 0) return "--isolation netns needs root (network namespaces and iptables)";
        foreach (var tool in new[] { "ip", "iptables-restore", "setpriv" })
            if (Which(tool) is null) return $"--isolation netns needs {tool} (apt-get install iproute2 iptables util-linux)";
        return null;
    }

    /// <summary>Removes namespaces, links, hosts files and state of runs whose `weft up` is gone.</summary>
    public static void RemoveLeftovers(TextWriter log)
    {
        var prefixes = new HashSet<string>(StringComparer.Ordinal);
        foreach (var ns in Namespaces()) if (NetnsLayout.PrefixOf(ns) is { } p) prefixes.Add(p);
        foreach (var link in Links()) if (NetnsLayout.PrefixOf(link) is { } p) prefixes.Add(p);
        if (Directory.Exists(NetnsEtc))
            foreach (var dir in Directory.EnumerateDirectories(NetnsEtc)) if (NetnsLayout.PrefixOf(Path.GetFileName(dir)) is { } p) prefixes.Add(p);
        if (Directory.Exists(StateDirectory))
            foreach (var file in Directory.EnumerateFiles(StateDirectory, "*.pid")) if (NetnsLayout.PrefixOf(Path.GetFileNameWithoutExtension(file) + "-") is { } p) prefixes.Add(p);
        if (Directory.Exists(StageRoot))
            foreach (var dir in Directory.EnumerateDirectories(StageRoot)) if (NetnsLayout.PrefixOf(Path.GetFileName(dir) + "-") is { } p) prefixes.Add(p);
        foreach (var prefix in prefixes.Where(p => !IsOwnerAlive(p)))
        {
            log.WriteLine($"weft: removing the network namespaces a previous run left ({prefix}-*)");
            RemoveAll(prefix);
        }
    }

    /// <summary>Makes the bridge of a new run, on a /24 no route of this machine uses.</summary>
    public static NetnsIsolation Create(TextWriter log, Random random)
    {
        string prefix;
        var existing = Namespaces().Concat(Links()).ToList();
        do prefix = NetnsLayout.NewPrefix(random);
        while (existing.Any(n => n.StartsWith(prefix + "-", StringComparison.Ordinal)));
        var routes = Run("ip", ["-4", "route", "show", "table", "all"]).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries) is { Length: > 0 } f ? (f[0] is "local" or "broadcast" or "unreachable" or "blackhole" or "prohibit" or "throw" or "anycast" or "multicast" && f.Length > 1 ? f[1] : f[0]) : "")
            .Where(d => d.Length > 0);
        var subnet = NetnsLayout.ChooseSubnet(routes, random.Next(256)) ?? throw new IsolationException("no free /24 in 10.254.0.0/16 for the namespaces");
        var layout = NetnsLayout.Create(prefix, subnet);
        Directory.CreateDirectory(StateDirectory);
        File.WriteAllText(StatePath(prefix), Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
        var isolation = new NetnsIsolation(layout, log);
        try
        {
            Run("ip", ["link", "add", layout.Bridge, "type", "bridge"]);
            Run("ip", ["link", "set", "dev", layout.Bridge, "alias", OwnerAliasPrefix + Environment.ProcessId.ToString(CultureInfo.InvariantCulture)]);
            Run("ip", ["addr", "add", layout.BridgeAddress + "/24", "dev", layout.Bridge]);
            // Traffic between namespaces is bridged: keep the host's FORWARD rules (br_netfilter, e.g.
            // Docker's DROP policy) out of it, for this bridge only, without adding root rules to clean.
            TryRun("ip", ["link", "set", layout.Bridge, "type", "bridge", "nf_call_iptables", "0"]);
            Run("ip", ["link", "set", layout.Bridge, "up"]);
        }
        catch
        {
            isolation.Dispose();
            throw;
        }
        return isolation;
    }

    /// <summary>One replica's namespace: veth onto the bridge, address, loopback, VIP route, interception rules, hosts file.</summary>
    public void AddReplica(ReplicaNetwork net, string hosts)
    {
        var etc = Path.Combine(NetnsEtc, net.Namespace);
        Directory.CreateDirectory(etc);
        File.WriteAllText(Path.Combine(etc, "hosts"), hosts);
        Run("ip", ["netns", "add", net.Namespace]);
        Run("ip", ["link", "add", net.HostVeth, "type", "veth", "peer", "name", net.PeerVeth, "netns", net.Namespace]);
        Run("ip", ["link", "set", net.HostVeth, "master", Layout.Bridge, "up"]);
        Run("ip", ["-n", net.Namespace, "link", "set", net.PeerVeth, "name", ReplicaNetwork.Interface]);
        Run("ip", ["-n", net.Namespace, "addr", "add", net.Address + "/24", "dev", ReplicaNetwork.Interface]);
        Run("ip", ["-n", net.Namespace, "link", "set", ReplicaNetwork.Interface, "up"]);
        Run("ip", ["-n", net.Namespace, "link", "set", "lo", "up"]);
        // No default route: nothing in the namespace can reach beyond this machine. The VIP range needs
        // a route for connect() to start; its packets are redirected to the sidecar before they leave.
        Run("ip", ["-n", net.Namespace, "route", "add", Control.Translate.ServiceVips.Range, "dev", ReplicaNetwork.Interface]);
        Run("ip", ["netns", "exec", net.Namespace, "iptables-restore", "--noflush"], InterceptionRules.Restore());
    }

    /// <summary>Removes everything of this run: processes left in its namespaces, namespaces (and with them their rules), links, hosts files, state.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        try { RemoveAll(Layout.Prefix); }
        catch (Exception e) when (e is IsolationException or IOException or UnauthorizedAccessException)
        {
            _log.WriteLine($"weft: removing the network namespaces of {Layout.Prefix}: {e.Message}");
        }
    }

    private static void RemoveAll(string prefix)
    {
        var mine = prefix + "-";
        foreach (var ns in Namespaces().Where(n => n.StartsWith(mine, StringComparison.Ordinal)))
        {
            foreach (var pid in TryRun("ip", ["netns", "pids", ns]).Split('\n', StringSplitOptions.RemoveEmptyEntries))
                if (int.TryParse(pid, NumberStyles.None, CultureInfo.InvariantCulture, out var p)) Posix.Signal(p, Posix.SIGKILL);
            TryRun("ip", ["netns", "delete", ns]);
        }
        foreach (var link in Links().Where(l => l.StartsWith(mine, StringComparison.Ordinal)))
            TryRun("ip", ["link", "delete", link]);
        if (Directory.Exists(NetnsEtc))
            foreach (var dir in Directory.EnumerateDirectories(NetnsEtc, mine + "*")) DeleteFolder(dir);
        DeleteFolder(StagePath(prefix));
        // A run started since /run was emptied (reboot, another mount namespace) finds leftovers here
        // without a state folder: File.Delete throws for a missing folder, not for a missing file.
        if (Directory.Exists(StateDirectory)) File.Delete(StatePath(prefix));
    }

    /// <summary>Deletes a folder if it is there; another run cleaning the same leftovers may have been first.</summary>
    private static void DeleteFolder(string path)
    {
        try { Directory.Delete(path, recursive: true); }
        catch (DirectoryNotFoundException) { }
    }

    /// <summary>Whether a live `weft up` other than this one owns the prefix: its state file or its bridge's alias names it.</summary>
    private static bool IsOwnerAlive(string prefix)
    {
        return IsOtherLiveProcess(ReadOrNull(StatePath(prefix))?.Trim())
            || IsOtherLiveProcess(ReadOrNull($"/sys/class/net/{NetnsLayout.BridgeOf(prefix)}/ifalias")?.Trim() is { } alias && alias.StartsWith(OwnerAliasPrefix, StringComparison.Ordinal)
                ? alias[OwnerAliasPrefix.Length..] : null);

        static bool IsOtherLiveProcess(string? pidText) =>
            int.TryParse(pidText, NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
            && pid != Environment.ProcessId && Directory.Exists($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}");

        static string? ReadOrNull(string path)
        {
            try { return File.ReadAllText(path); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
        }
    }

    private static string StatePath(string prefix) => Path.Combine(StateDirectory, prefix + ".pid");

    /// <summary>The run's stage folder (<see cref="SidecarStage"/>), removed with the rest of the run.</summary>
    public string StageDirectory => StagePath(Layout.Prefix);

    private static string StagePath(string prefix) => Path.Combine(StageRoot, prefix);

    public static IEnumerable<string> Namespaces() =>
        TryRun("ip", ["netns", "list"]).Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ')[0]);

    /// <summary>Names of the root namespace's links ("eth0", "wf1a2b-v0"...), without the "@peer" suffix.</summary>
    public static IEnumerable<string> Links() =>
        TryRun("ip", ["-o", "link", "show"]).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(':', 3)).Where(f => f.Length == 3).Select(f => f[1].Trim().Split('@')[0]);

    private static string TryRun(string file, IReadOnlyList<string> args)
    {
        try { return Run(file, args); }
        catch (IsolationException) { return ""; }
    }

    /// <summary>Runs a tool to completion; its stdout, or IsolationException with its stderr.</summary>
    private static string Run(string file, IReadOnlyList<string> args, string? input = null)
    {
        var info = new ProcessStartInfo(Which(file) ?? file)
        {
            UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true,
        };
        foreach (var a in args) info.ArgumentList.Add(a);
        using var process = Process.Start(info) ?? throw new IsolationException($"{file} did not start");
        if (input is not null) process.StandardInput.Write(input);
        process.StandardInput.Close();
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
            throw new IsolationException($"{file} {string.Join(' ', args)}: exit {process.ExitCode.ToString(CultureInfo.InvariantCulture)}: {stderr.Result.Trim()}");
        return stdout;
    }

    private static string? Which(string tool)
    {
        foreach (var dir in new[] { "/usr/sbin", "/usr/bin", "/sbin", "/bin" })
        {
            var path = Path.Combine(dir, tool);
            if (File.Exists(path)) return path;
        }
        return null;
    }

    [System.Runtime.InteropServices.DllImport("libc")]
#pragma warning disable SYSLIB1054 // LibraryImport needs AllowUnsafeBlocks, which the project does not set.
    private static extern uint geteuid();
#pragma warning restore SYSLIB1054
}

/// <summary>A step of setting up or removing namespaces failed; the message names the command and its error.</summary>
internal sealed class IsolationException(string message) : Exception(message);
