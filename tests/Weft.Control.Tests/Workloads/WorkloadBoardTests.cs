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
    public void The_board_keeps_its_own_copy_of_the_reported_list()
    {
        var board = new WorkloadBoard(new FakeTime());
        var processes = new List<WorkloadProcess> { App("catalog-v1-0") };
        board.Report("up-1", processes);

        processes.Clear();

        Assert.Single(Assert.Single(board.Current()).Processes);
    }
}
