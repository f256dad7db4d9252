using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;
using Weft.Cli.Up;
using Weft.Control.Api;
using Weft.Control.Workloads;
using static Weft.Integration.Up.UpTestSupport;

namespace Weft.Integration.Up;

public sealed class WorkloadReporterTests
{
    // The first restart waits long enough for the test to see "restarting" for sure.
    private static readonly RestartPolicy SlowRestart = new(TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(5));
    private static readonly RestartPolicy Quick = new(TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(40), TimeSpan.FromSeconds(30));
    private static readonly TimeSpan NoTicks = TimeSpan.FromHours(1);

    private static ProcessSpec Sleeper(string name, ProcessRole role) =>
        Shell(name, "exec sleep 300") with { Role = role };

    private static WorkloadProcess? Reported(WorkloadBoard board, string name) =>
        board.Current().SelectMany(r => r.Processes).FirstOrDefault(p => p.Name == name);

    [Fact]
    public async Task Reports_a_crashed_app_as_restarting_with_its_exit_code_beside_its_running_sidecar()
    {
        await using var control = await ControlApi.StartAsync();
        await using var supervisor = new ProcessSupervisor(new CapturedOutput(), SlowRestart);
        var sidecar = supervisor.Start(Sleeper("catalog-v1-0/proxy", ProcessRole.Proxy));
        supervisor.Start(Shell("catalog-v1-0", "exit 3"));
        await using var reporter = WorkloadReporter.Start(supervisor, control.Url, launcher: "test-launcher");

        await WaitUntilAsync(() => Reported(control.Board, "catalog-v1-0")?.State == WorkloadStates.Restarting, "the crashed app is reported restarting");
        await WaitUntilAsync(() => Reported(control.Board, "catalog-v1-0/proxy")?.State == WorkloadStates.Running, "the sidecar is reported running");

        var launcher = Assert.Single(control.Board.Current());
        Assert.Equal("test-launcher", launcher.Launcher);
        var app = Reported(control.Board, "catalog-v1-0")!;
        Assert.Equal(("catalog-v1-0", WorkloadRoles.App, 1, (int?)3, (int?)null), (app.Instance, app.Role, app.Restarts, app.LastExitCode, app.Pid));
        var proxy = Reported(control.Board, "catalog-v1-0/proxy")!;
        Assert.Equal(("catalog-v1-0", WorkloadRoles.Proxy, 0), (proxy.Instance, proxy.Role, proxy.Restarts));
        Assert.Equal(sidecar.Status.Pid, proxy.Pid);
        Assert.NotNull(proxy.StartedAt);
    }

    [Fact]
    public async Task Every_state_change_is_reported_at_once_without_waiting_for_a_tick()
    {
        await using var control = await ControlApi.StartAsync();
        await using var supervisor = new ProcessSupervisor(new CapturedOutput(), Quick);
        await using var reporter = WorkloadReporter.Start(supervisor, control.Url, interval: NoTicks);
        await WaitUntilAsync(() => control.Board.Current().Count == 1, "the first report, of no processes");

        var crasher = supervisor.Start(Shell("web-v1-0", "exit 7"));

        await WaitUntilAsync(() => Reported(control.Board, "web-v1-0") is { Restarts: >= 3, LastExitCode: 7 }, "three restarts reported");
        Assert.True(crasher.Status.Restarts >= 3);
    }

    [Fact]
    public async Task A_report_the_control_plane_missed_is_made_good_once_it_is_up()
    {
        var port = new PortAllocator().Next();
        await using var supervisor = new ProcessSupervisor(new CapturedOutput(), Quick);
        var app = supervisor.Start(Sleeper("catalog-v1-0", ProcessRole.App));
        await WaitUntilAsync(() => app.Status.State == ProcessState.Running, "the app runs");
        await using var reporter = WorkloadReporter.Start(supervisor, new Uri($"http://127.0.0.1:{port}"));

        // No state changes from here on: only the tick can bring the report to a control plane started late.
        await using var control = await ControlApi.StartAsync(port);

        await WaitUntilAsync(() => Reported(control.Board, "catalog-v1-0") is { State: WorkloadStates.Running } r && r.Pid == app.Status.Pid,
            "the running app is reported");
    }

    [Fact]
    public async Task Nothing_is_reported_after_the_reporter_is_disposed()
    {
        await using var control = await ControlApi.StartAsync();
        await using var supervisor = new ProcessSupervisor(new CapturedOutput(), Quick);
        var app = supervisor.Start(Sleeper("catalog-v1-0", ProcessRole.App));
        var reporter = WorkloadReporter.Start(supervisor, control.Url, interval: TimeSpan.FromMilliseconds(50));
        await WaitUntilAsync(() => Reported(control.Board, "catalog-v1-0")?.State == WorkloadStates.Running, "the app is reported running");

        await reporter.DisposeAsync();
        var last = Assert.Single(control.Board.Current()).ReportedAt;
        await app.StopAsync(TimeSpan.FromSeconds(5));

        Assert.Equal(ProcessState.Exited, app.Status.State);
        Assert.Equal(last, Assert.Single(control.Board.Current()).ReportedAt);
        Assert.Equal(WorkloadStates.Running, Reported(control.Board, "catalog-v1-0")!.State);
    }

    [Fact]
    public async Task An_action_requested_of_the_control_plane_reaches_the_replicas_and_its_progress_comes_back()
    {
        await using var control = await ControlApi.StartAsync();
        await using var supervisor = new ProcessSupervisor(new CapturedOutput(), Quick);
        var app = supervisor.Start(Sleeper("catalog-v1-0", ProcessRole.App));
        await using var replicas = new ReplicaControl(supervisor, TimeSpan.FromSeconds(1), TextWriter.Null);
        await using var reporter = WorkloadReporter.Start(supervisor, control.Url, launcher: "up", interval: TimeSpan.FromMilliseconds(50), replicas: replicas);
        await WaitUntilAsync(() => Reported(control.Board, "catalog-v1-0")?.State == WorkloadStates.Running, "the app is reported running");

        var request = control.Board.Request("catalog-v1-0", WorkloadActions.Restart)!;

        // The mesh is not up (no plan yet): the action waits, queued, and the control plane hears so.
        await WaitUntilAsync(() => replicas.Actions.Any(a => a.Id == request.Id), "the replicas took the action");
        await WaitUntilAsync(() => control.Board.Action(request.Id) is { State: WorkloadActionStates.Running, Message: "queued" }, "the board hears it is queued");
        Assert.Empty(control.Board.PendingFor("up"));
        Assert.Single(replicas.Actions); // handed over again before the board heard: taken once
        Assert.Equal(ProcessState.Running, app.Status.State);
    }

    [Fact]
    public async Task Describes_roles_by_process_and_tells_a_stop_from_an_exit()
    {
        await using var supervisor = new ProcessSupervisor(new CapturedOutput(), Quick);
        var gateway = supervisor.Start(Sleeper("ingress", ProcessRole.Proxy));
        var control = supervisor.Start(Sleeper("control", ProcessRole.ControlPlane));
        var once = supervisor.Start(Shell("job-v1-0", "exit 4", restart: false));
        await WaitUntilAsync(() => once.Status.State == ProcessState.Exited, "the one-shot app exits");

        Assert.Equal(("ingress", WorkloadRoles.Gateway), (WorkloadReporter.Describe(gateway).Instance, WorkloadReporter.Describe(gateway).Role));
        Assert.Equal(WorkloadRoles.Control, WorkloadReporter.Describe(control).Role);
        Assert.Equal((WorkloadStates.Exited, (int?)4, 0), (WorkloadReporter.Describe(once).State, WorkloadReporter.Describe(once).LastExitCode, WorkloadReporter.Describe(once).Restarts));

        await gateway.StopAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(WorkloadStates.Stopped, WorkloadReporter.Describe(gateway).State);
    }

    /// <summary>The control plane's real /api/v1/workloads on Kestrel, over a board the test reads.</summary>
    private sealed class ControlApi : IAsyncDisposable
    {
        private readonly WebApplication _app;

        private ControlApi(WebApplication app, WorkloadBoard board, Uri url) => (_app, Board, Url) = (app, board, url);

        public WorkloadBoard Board { get; }
        public Uri Url { get; }

        public static async Task<ControlApi> StartAsync(int port = 0)
        {
            var board = new WorkloadBoard();
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, port));
            var app = builder.Build();
            WorkloadEndpoints.Map(app.MapGroup(ApiEndpoints.Prefix), board);
            await app.StartAsync();
            return new ControlApi(app, board, new Uri(app.Urls.First()));
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
