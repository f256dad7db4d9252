using Weft.Cli.Up;
using Weft.Model.Resources;
using Weft.Model.Topology;
using Weft.Proxy.Hosting;
using static Weft.Integration.Up.UpTestSupport;

namespace Weft.Integration.Up;

public sealed class MeshStartupTests
{
    // Stand-ins: a shell plays the sidecar (its /ready is a TinyHttpServer we control) and the app.
    private static readonly WeftCommandLine FakeWeft = new("/bin/sh", []);

    private static LaunchPlan OneReplica(int adminPort) => new(
    [
        new ReplicaLaunch("app-0",
            new Workload("app", "app", "v1", "default", EquatableMap.Empty, 1, "http", 8080, ["x"], new Dictionary<string, string>(), []),
            0, 1, 2, adminPort, new Dictionary<string, int>(), new Dictionary<string, string>(),
            "/bin/sh", ["-c", "echo app up; exec sleep 300"], Path.GetTempPath(),
            ["-c", "echo proxy up; exec sleep 300"]),
    ], null);

    [Fact]
    public async Task The_app_starts_only_once_its_sidecar_is_ready()
    {
        using var admin = new TinyHttpServer { Status = 503 };
        var output = new CapturedOutput();
        await using var supervisor = new ProcessSupervisor(output);

        var startup = MeshStartup.StartAsync(OneReplica(admin.Port), supervisor, FakeWeft, Deadline);
        await WaitUntilAsync(() => admin.Requests >= 2 && output.Has("[app-0/proxy] proxy up"), "the sidecar runs and is probed");
        Assert.Equal(["app-0/proxy"], supervisor.Processes.Select(p => p.Spec.Name));

        admin.Status = 200;
        await startup.WaitAsync(Deadline);
        await WaitUntilAsync(() => output.Has("[app-0] app up"), "the app runs");
        Assert.Equal([ProcessRole.Proxy, ProcessRole.App], supervisor.Processes.Select(p => p.Spec.Role));
    }

    [Fact]
    public async Task A_sidecar_that_never_gets_ready_fails_the_start_by_name()
    {
        using var admin = new TinyHttpServer { Status = 503 };
        await using var supervisor = new ProcessSupervisor(new CapturedOutput());

        var error = await Assert.ThrowsAsync<TimeoutException>(() =>
            MeshStartup.StartAsync(OneReplica(admin.Port), supervisor, FakeWeft, TimeSpan.FromSeconds(1)));
        Assert.StartsWith("app-0/proxy was not ready at http://127.0.0.1:", error.Message);
        Assert.Single(supervisor.Processes);
    }

    [Fact]
    public void The_parent_watch_is_off_outside_weft_up_and_fires_when_the_parent_is_not_ours()
    {
        if (Environment.GetEnvironmentVariable(ParentWatch.Variable) is null)
            Assert.False(ParentWatch.WhenParentExits().CanBeCanceled);

        var ours = ParentWatch.ParentProcessId();
        var stillHere = ParentWatch.WhenParentIsNot(ours);
        var gone = ParentWatch.WhenParentIsNot(ours + 1_000_000);
        Assert.True(gone.WaitHandle.WaitOne(Deadline), "the watch did not notice the parent is not the one it was given");
        Assert.False(stillHere.IsCancellationRequested);
    }
}
