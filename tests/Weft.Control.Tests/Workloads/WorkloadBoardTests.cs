using Weft.Control.Workloads;
using Weft.Tests.Fakes;

namespace Weft.Control.Tests.Workloads;

public sealed class WorkloadBoardTests
{
    private static WorkloadProcess App(string name, string state = WorkloadStates.Running, int restarts = 0, int? lastExit = null) =>
        new(name, name, WorkloadRoles.App, state, state == WorkloadStates.Running ? 4242 : null, restarts, lastExit, null);

    [Fact]
    public void A_report_replaces_what_the_same_launcher_reported_before()
    {
        var time = new FakeTime();
        var board = new WorkloadBoard(time);
        board.Report("up-1", [App("catalog-v1-0"), App("web-v1-0")]);
        time.Advance(TimeSpan.FromSeconds(1));

        board.Report("up-1", [App("catalog-v1-0", WorkloadStates.Restarting, restarts: 3, lastExit: 1)]);

        var report = Assert.Single(board.Current());
        Assert.Equal("up-1", report.Launcher);
        Assert.Equal(time.GetUtcNow(), report.ReportedAt);
        var only = Assert.Single(report.Processes);
        Assert.Equal(("catalog-v1-0", "restarting", 3, (int?)1), (only.Name, only.State, only.Restarts, only.LastExitCode));
    }

    [Fact]
    public void Launchers_do_not_replace_each_other_and_come_back_in_name_order()
    {
        var board = new WorkloadBoard(new FakeTime());
        board.Report("up-b", [App("web-v1-0")]);
        board.Report("up-a", [App("catalog-v1-0")]);
        board.Report("up-b", []);

        Assert.Equal(["up-a:1", "up-b:0"], board.Current().Select(r => $"{r.Launcher}:{r.Processes.Count}"));
    }

    [Fact]
    public void A_launcher_silent_past_the_expiry_is_left_out_until_it_reports_again()
    {
        var time = new FakeTime();
        var board = new WorkloadBoard(time, TimeSpan.FromSeconds(10));
        board.Report("gone", [App("catalog-v1-0")]);
        time.Advance(TimeSpan.FromSeconds(5));
        board.Report("alive", [App("web-v1-0")]);

        time.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal(["alive", "gone"], board.Current().Select(r => r.Launcher));

        time.Advance(TimeSpan.FromTicks(1));
        Assert.Equal(["alive"], board.Current().Select(r => r.Launcher));

        board.Report("gone", [App("catalog-v1-0")]);
        Assert.Equal(["alive", "gone"], board.Current().Select(r => r.Launcher));
    }

    [Fact]
    public void An_action_goes_to_the_launcher_that_runs_the_app_until_it_reports_taking_it()
    {
        var time = new FakeTime();
        var board = new WorkloadBoard(time);
        board.Report("up-a", [App("web-0")]);
        board.Report("up-b", [App("catalog-0"), new("catalog-0/proxy", "catalog-0", WorkloadRoles.Proxy, WorkloadStates.Running, 7, 0, null, null)]);

        Assert.Null(board.Request("ratings-0", WorkloadActions.Restart));
        var request = board.Request("catalog-0", WorkloadActions.Restart)!;
        Assert.Equal(("catalog-0", "restart", "up-b", WorkloadActionStates.Pending), (request.Instance, request.Action, request.Launcher, request.State));
        Assert.Empty(board.PendingFor("up-a"));
        Assert.Equal([request], board.PendingFor("up-b"));
        // Handed over again in every answer until the launcher's report says it took it.
        board.Report("up-b", [App("catalog-0")]);
        Assert.Equal([request], board.PendingFor("up-b"));

        board.Report("up-b", [App("catalog-0")], ["catalog-0"], [request with { State = WorkloadActionStates.Running, Message = "withdrawing" }]);
        Assert.Empty(board.PendingFor("up-b"));
        Assert.Equal((WorkloadActionStates.Running, "withdrawing"), (board.Action(request.Id)!.State, board.Action(request.Id)!.Message));
        // A launcher speaks only for its own actions.
        board.Report("up-a", [App("web-0")], null, [request with { State = WorkloadActionStates.Failed }]);
        Assert.Equal(WorkloadActionStates.Running, board.Action(request.Id)!.State);

        Assert.NotEqual(request.Id, board.Request("catalog-0", WorkloadActions.Stop)!.Id);
        Assert.Equal(2, board.Actions().Count);
    }

    [Fact]
    public void The_draining_set_is_what_live_launchers_drain_and_changes_are_announced()
    {
        var time = new FakeTime();
        var board = new WorkloadBoard(time, TimeSpan.FromSeconds(10));
        var announced = new List<string>();
        board.DrainingChanged += set => announced.Add(string.Join(",", set.Order(StringComparer.Ordinal)));

        board.Report("up-a", [App("web-0")], ["web-0"]);
        board.Report("up-a", [App("web-0")], ["web-0"]);
        board.Report("up-b", [App("catalog-0")], ["catalog-0"]);
        time.Advance(TimeSpan.FromSeconds(11));
        board.Report("up-b", [App("catalog-0")], ["catalog-0"]);   // up-a went silent: its draining goes with it
        board.Report("up-b", [App("catalog-0")]);

        Assert.Equal(["web-0", "catalog-0,web-0", "catalog-0", ""], announced);
    }

    [Fact]
    public void The_board_keeps_its_own_copy_of_the_reported_list()
    {
        var board = new WorkloadBoard(new FakeTime());
        var processes = new List<WorkloadProcess> { App("catalog-v1-0") };
        board.Report("up-1", processes);

        processes.Clear();

        Assert.Single(Assert.Single(board.Current()).Processes);
    }
}
