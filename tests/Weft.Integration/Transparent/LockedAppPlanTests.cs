using Weft.Cli.Up;
using Weft.Cli.Up.Isolation;
using Weft.Model.Resources;
using Weft.Model.Topology;

namespace Weft.Integration.Transparent;

/// <summary>
/// The pure parts of running isolated apps locked down (issue 12): who they run as, how they are
/// launched, what `weft up` checks before it starts anything, and when the demo shop is staged.
/// </summary>
public class LockedAppPlanTests
{
    private const UnixFileMode Open = (UnixFileMode)0x1ED;   // 0755
    private const UnixFileMode Closed = (UnixFileMode)0x1C0; // 0700
    private const UnixFileMode Readable = (UnixFileMode)0x1A4; // 0644

    private static Workload Workload(string name, IReadOnlyList<string> command, IReadOnlyDictionary<string, string>? env = null) =>
        new(name, name, "v1", "default", EquatableMap.From([]), 1, "http", 8080, command, env ?? new Dictionary<string, string>(), []);

    private static ReplicaLaunch Isolated(string directory, IReadOnlyList<string> command, AppUser? user = null,
        IReadOnlyDictionary<string, string>? env = null, Func<string, string?>? environment = null)
    {
        var topology = new Topology("t", directory, [], [Workload("app", command, env)], null);
        var port = 30000;
        return Assert.Single(LaunchPlan.Create(topology, new LaunchOptions("http://10.254.3.1:15010", Netns: NetnsLayout.Create("wf0001", 3),
            Environment: environment ?? (_ => null), AppUser: user), () => port++).Replicas);
    }

    [Fact]
    public void An_isolated_app_runs_through_setpriv_without_a_capability_as_1338_by_default()
    {
        var app = Isolated("/topo", ["sleep", "3600"]).AppProcess();
        Assert.EndsWith("ip", app.FileName);
        Assert.Equal(
        [
            "netns", "exec", "wf0001-app-0", "setpriv", "--reuid", "1338", "--regid", "1338", "--clear-groups",
            "--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all", "--no-new-privs", "--pdeathsig", "KILL",
            "--", "sleep", "3600",
        ], app.Arguments);
        Assert.Equal("/topo", app.WorkingDirectory);
        Assert.Equal("/tmp", app.Environment["HOME"]); // not root's
        Assert.Equal(1338, AppUser.DedicatedUid);
        Assert.NotEqual(InterceptionRules.ProxyUid, AppUser.DedicatedUid);
    }

    [Fact]
    public void With_sudo_the_app_runs_as_the_user_who_ran_it_with_that_users_home()
    {
        var user = AppUser.Choose(n => n switch { "SUDO_UID" => "1000", "SUDO_GID" => "1001", _ => null },
            "root:x:0:0:root:/root:/bin/bash\nal:x:1000:1001:Al,,,:/home/al:/bin/bash\n");
        Assert.Equal(new AppUser(1000, 1001, "/home/al", "SUDO_UID"), user);

        var replica = Isolated("/home/al/shop", ["dotnet", "shop.dll", "${HOME}"], user);
        var app = replica.AppProcess();
        Assert.Equal(["--reuid", "1000", "--regid", "1001", "--clear-groups"], app.Arguments.Skip(4).Take(5));
        Assert.Equal("/home/al", app.Environment["HOME"]);
        Assert.Equal(["shop.dll", "/home/al"], replica.AppArguments); // $HOME in a command is the app's
        // The workload's own HOME wins.
        Assert.Equal("/srv", Isolated("/t", ["sleep", "1"], user, new Dictionary<string, string> { ["HOME"] = "/srv" }).AppEnvironment["HOME"]);
    }

    [Fact]
    public void The_sidecar_keeps_its_own_uid_and_the_app_never_gets_root_or_the_sidecars()
    {
        var replica = Isolated("/topo", ["sleep", "3600"]);
        var proxy = replica.ProxyProcess(new WeftCommandLine("/stage/weft-proxy", [], ProxyOnly: true));
        Assert.Equal(["--reuid", "1337", "--regid", "1337"], proxy.Arguments.Skip(4).Take(4));

        static AppUser Sudo(string? uid, string? gid = "1000") => AppUser.Choose(n => n switch { "SUDO_UID" => uid, "SUDO_GID" => gid, _ => null }, null);
        Assert.Same(AppUser.Dedicated, Sudo(null));
        Assert.Equal(1338, Sudo("0").Uid);          // sudo as root
        Assert.Equal(1338, Sudo("1337").Uid);       // the sidecars' uid: its traffic would bypass the sidecar
        Assert.Contains("sidecars' uid", Sudo("1337").Source);
        Assert.Equal(1338, Sudo("-5").Uid);
        Assert.Equal(1338, Sudo("x").Uid);
        Assert.Equal((1000, 1338), (Sudo("1000", "0").Uid, Sudo("1000", "0").Gid)); // never group root
        Assert.Equal((1000, 1338), (Sudo("1000", null).Uid, Sudo("1000", null).Gid));
        Assert.Equal("/tmp", Sudo("1000").Home);    // no passwd entry
        // Without isolation the app runs as whoever runs weft up, as before.
        var port = 30000;
        var plain = LaunchPlan.Create(new Topology("t", "/topo", [], [Workload("app", ["sleep", "1"])], null), new LaunchOptions(), () => port++);
        Assert.Equal("sleep", plain.Replicas[0].AppProcess().FileName);
        Assert.Null(plain.Replicas[0].AppUser);
    }

    /// <summary>A made-up file system: path to (owner, group, mode, folder), and links.</summary>
    private static FileView Files(Dictionary<string, (int Uid, int Gid, UnixFileMode Mode, bool Dir)> entries, Dictionary<string, string>? links = null) =>
        new(path =>
            {
                var real = links?.GetValueOrDefault(path) ?? path;
                return entries.TryGetValue(real, out var e) ? new FileStat(e.Uid, e.Gid, e.Mode, e.Dir) : null;
            },
            path => links?.GetValueOrDefault(path) ?? (entries.ContainsKey(path) ? path : null));

    private static readonly Dictionary<string, (int, int, UnixFileMode, bool)> RootCheckout = new()
    {
        ["/"] = (0, 0, Open, true),
        ["/root"] = (0, 0, Closed, true),
        ["/root/weft"] = (0, 0, Open, true),
        ["/root/weft/mesh"] = (0, 0, Open, true),
        ["/root/weft/app.dll"] = (0, 0, Readable, false),
        ["/usr"] = (0, 0, Open, true),
        ["/usr/bin"] = (0, 0, Open, true),
        ["/usr/share"] = (0, 0, Open, true),
        ["/usr/share/dotnet"] = (0, 0, Open, true),
        ["/usr/share/dotnet/dotnet"] = (0, 0, Open, false),
        ["/opt"] = (0, 0, Open, true),
        ["/opt/private"] = (0, 0, Closed, true),
        ["/opt/private/dotnet"] = (0, 0, Open, false),
    };

    private static readonly Dictionary<string, string> DotnetLink = new() { ["/usr/bin/dotnet"] = "/usr/share/dotnet/dotnet" };

    [Fact]
    public void An_app_the_uid_cannot_reach_is_reported_with_workload_path_uid_and_fix()
    {
        var replica = Isolated("/root/weft/mesh", ["dotnet", "../app.dll", "web", "--rps", "20"]);
        var files = Files(RootCheckout, DotnetLink);
        var problems = AppAccess.Problems(replica, files, _ => "/opt/private:/usr/bin");
        Assert.Equal(
        [
            "workload app: uid 1338 cannot enter its working directory /root/weft/mesh: /root is 0700, owner 0 group 0",
            "workload app: uid 1338 cannot read ../app.dll (/root/weft/app.dll): /root is 0700, owner 0 group 0",
        ], problems.Select(p => p.Text));

        var error = AppAccess.Check([replica], files, _ => "/usr/bin");
        Assert.NotNull(error);
        Assert.StartsWith("with --isolation netns apps run as uid 1338 gid 1338 (no SUDO_UID), without capabilities, and some could not start:\n", error);
        Assert.EndsWith("To fix it: run weft up with sudo as the user who owns these files (apps then run as that user), or move the checkout to a folder other users can read, or open them (chmod o+x /root).", error);
    }

    [Fact]
    public void The_command_is_found_on_path_as_execvp_finds_it_after_the_uid_change()
    {
        // /opt/private/dotnet cannot be run, /usr/bin/dotnet (a link into /usr/share) can: execvp goes on to it.
        Assert.Empty(AppAccess.Problems(Isolated("/", ["dotnet", "x"]), Files(RootCheckout, DotnetLink), _ => "/opt/private:/usr/bin"));
        // The app's own PATH wins over weft up's.
        var own = Isolated("/", ["dotnet"], env: new Dictionary<string, string> { ["PATH"] = "/opt/private" });
        Assert.Equal("workload app: uid 1338 cannot run its command dotnet (/opt/private/dotnet): /opt/private is 0700, owner 0 group 0",
            Assert.Single(AppAccess.Problems(own, Files(RootCheckout, DotnetLink), _ => "/usr/bin")).Text);
        // Where a link leads counts: the runtime's own folder closed.
        var closedRuntime = new Dictionary<string, (int, int, UnixFileMode, bool)>(RootCheckout) { ["/usr/share/dotnet"] = (0, 0, Closed, true) };
        Assert.Equal("workload app: uid 1338 cannot run its command dotnet (/usr/bin/dotnet): /usr/share/dotnet is 0700, owner 0 group 0",
            Assert.Single(AppAccess.Problems(Isolated("/", ["dotnet"]), Files(closedRuntime, DotnetLink), _ => "/usr/bin")).Text);
        // A command found nowhere is the app's own error, as without isolation.
        Assert.Empty(AppAccess.Problems(Isolated("/", ["nope"]), Files(RootCheckout), _ => "/usr/bin"));
    }

    [Fact]
    public void Owner_group_and_other_bits_count_as_the_kernel_counts_them()
    {
        var al = new AppUser(1000, 1000, "/home/al", "SUDO_UID");
        var files = Files(new()
        {
            ["/"] = (0, 0, Open, true),
            ["/home"] = (0, 0, Open, true),
            ["/home/al"] = (1000, 1000, Closed, true),                      // the owner enters their 0700 home
            ["/home/al/mine"] = (1000, 1000, (UnixFileMode)0x180, false),   // 0600, theirs
            ["/home/al/team"] = (0, 1000, (UnixFileMode)0x1A0, false),      // 0640, their group's
            ["/home/al/other"] = (0, 50, (UnixFileMode)0x1A0, false),       // 0640, another group's
            ["/home/al/noread"] = (1000, 1000, (UnixFileMode)0x0A4, false), // 0244: others may read, the owner may not
            ["/home/al/data"] = (0, 0, (UnixFileMode)0x1C9, true),          // 0711: enterable, not listable
        });
        var replica = Isolated("/home/al", ["cat", "mine", "team", "other", "noread", "data", "missing", "-"], al);
        var problems = AppAccess.Problems(replica, files, _ => "/bin");
        Assert.Equal(
        [
            "workload app: uid 1000 cannot read other (/home/al/other): /home/al/other is 0640, owner 0 group 50",
            "workload app: uid 1000 cannot read noread (/home/al/noread): /home/al/noread is 0244, owner 1000 group 1000",
            "workload app: uid 1000 cannot read data (/home/al/data): /home/al/data is 0711, owner 0 group 0",
        ], problems.Select(p => p.Text));
        Assert.Equal(["o+r /home/al/other", "u+r /home/al/noread", "o+r /home/al/data"], problems.SelectMany(p => p.Fixes).Select(f => $"{f.Change} {f.Path}"));
        Assert.EndsWith("To fix it: open them to uid 1000 (chmod o+r /home/al/other /home/al/data; chmod u+r /home/al/noread), or move the app's files where uid 1000 can read them.",
            AppAccess.Check([replica], files, _ => "/bin"));
    }

    [Fact]
    public void The_demo_shop_built_beside_weft_runs_from_the_stage()
    {
        var demo = new DemoStage("/root/weft/.build/bin/Shop/release", "/var/lib/weft/netns/wf0001/shop");
        var topology = new Topology("shop", "/root/weft/examples/shop", [],
        [
            Workload("web", ["dotnet", "../../.build/bin/Shop/release/shop.dll", "web"]),
            Workload("loadgen", ["/usr/bin/dotnet", "/root/weft/.build/bin/Shop/release/shop.dll", "loadgen", "--rps", "20"]),
            Workload("other", ["dotnet", "/root/weft/other.dll"]),
            Workload("sleep", ["sleep", "3600"]),
        ], null);
        var port = 30000;
        var plan = LaunchPlan.Create(topology, new LaunchOptions(Netns: NetnsLayout.Create("wf0001", 3)), () => port++);
        var staged = demo.Apply(plan);

        Assert.Equal([true, true, false, false], plan.Replicas.Select(demo.Runs));
        Assert.Equal(["/var/lib/weft/netns/wf0001/shop/shop.dll", "web"], staged.Replicas[0].AppArguments);
        Assert.Equal("/var/lib/weft/netns/wf0001/shop", staged.Replicas[0].WorkingDirectory);
        Assert.Equal(["/var/lib/weft/netns/wf0001/shop/shop.dll", "loadgen", "--rps", "20"], staged.Replicas[1].AppArguments);
        Assert.Equal("/usr/bin/dotnet", staged.Replicas[1].AppFileName);
        Assert.Equal(plan.Replicas[2], staged.Replicas[2]);
        Assert.Equal(plan.Replicas[3], staged.Replicas[3]);
        Assert.Equal("/", staged.Replicas[0].ProxyProcess(new WeftCommandLine("/stage/weft-proxy", [], ProxyOnly: true)).WorkingDirectory);
        // Without isolation nothing is staged: the app runs as whoever runs weft up.
        var plain = LaunchPlan.Create(topology, new LaunchOptions(), () => port++);
        Assert.DoesNotContain(plain.Replicas, demo.Runs);

        Assert.Equal(new DemoStage(Path.Combine(Harness.Repo.Root, ".build", "bin", "Shop", "release"), "/stage/shop"),
            DemoStage.Beside(Path.GetDirectoryName(Harness.Repo.WeftDll)!, "/stage"));
        Assert.Null(DemoStage.Beside(Path.GetTempPath(), "/stage"));
    }

    [Fact]
    public void Stat_reads_owner_group_and_mode_and_realpath_follows_links()
    {
        var root = Path.Combine(Path.GetTempPath(), "weft-stat-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(root);
        try
        {
            var file = Path.Combine(root, "f");
            File.WriteAllText(file, "");
            File.SetUnixFileMode(file, (UnixFileMode)0x1A0); // 0640
            var link = Path.Combine(root, "l");
            File.CreateSymbolicLink(link, file);
            var uid = int.Parse(File.ReadAllLines("/proc/self/status").First(l => l.StartsWith("Uid:", StringComparison.Ordinal)).Split('\t')[2]);

            var stat = Posix.Stat(link);
            Assert.NotNull(stat);
            Assert.Equal((uid, (UnixFileMode)0x1A0, false), (stat.Value.Uid, stat.Value.Mode, stat.Value.IsDirectory));
            Assert.True(Posix.Stat(root)!.Value.IsDirectory);
            Assert.Null(Posix.Stat(Path.Combine(root, "missing")));
            Assert.Equal(Posix.RealPath(file), Posix.RealPath(link));
            Assert.Null(Posix.RealPath(Path.Combine(root, "missing")));

            // The real thing: a folder closed to others keeps uid 1338 out of what is below it.
            File.SetUnixFileMode(root, Closed);
            var replica = Isolated(root, ["cat", "f"]);
            var problems = AppAccess.Problems(replica, FileView.Host, _ => "/usr/bin:/bin");
            Assert.Equal(uid == 1338 ? 0 : 2, problems.Count);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }
}
