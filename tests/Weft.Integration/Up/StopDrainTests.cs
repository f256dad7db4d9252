using System.Diagnostics;
using Weft.Integration.Harness;
using Xunit.Abstractions;

namespace Weft.Integration.Up;

/// <summary>
/// Ctrl-C of `weft up` loses no request in flight, even when the app exits at once on SIGTERM: the
/// ingress stops taking new requests, the requests inside the app finish, and only then is the app
/// stopped, then the proxies and the control plane; nothing `weft up` started is left.
/// </summary>
public sealed class StopDrainTests(ITestOutputHelper output)
{
    private const int Requests = 100;

    [PythonFact]
    public async Task Ctrl_C_lets_every_request_inside_an_app_that_dies_on_SIGTERM_finish()
    {
        await using var mesh = await SlowAppMesh.StartAsync(replicas: 1);
        using var http = SlowAppMesh.Client();
        var reported = await mesh.ReportedProcessesAsync(http);
        var started = ProcessTable.Descendants(mesh.Up.Pid).Union(reported.Select(r => r.Pid)).ToList();
        output.WriteLine($"weft up {mesh.Up.Pid}: reported {string.Join(", ", reported)}; {started.Count} processes in its tree");
        Assert.Contains(reported, r => r.Name == "slow-0");
        Assert.Contains(reported, r => r.Name == "ingress");

        var calls = Enumerable.Range(0, Requests).Select(_ => SlowAppMesh.GetAsync(http, $"http://127.0.0.1:{mesh.IngressPort}/work")).ToList();
        await UpTestSupport.WaitUntilAsync(async () => await mesh.AppCountsAsync(http, "slow-0") is { Active: Requests },
            $"all {Requests} requests are inside the app");

        var clock = Stopwatch.StartNew();
        mesh.Up.Signal(Posix.SIGINT);
        var results = await Task.WhenAll(calls);
        output.WriteLine($"the requests finished {clock.ElapsedMilliseconds} ms after SIGINT");
        var exited = await mesh.Up.WaitForExitAsync(TimeSpan.FromSeconds(30));
        output.WriteLine($"weft up exited {clock.ElapsedMilliseconds} ms after SIGINT:\n{mesh.Up.Output}");

        var failed = results.Where(r => r.Status != 200).GroupBy(r => $"{r.Status} {r.Body.Trim()}").Select(g => $"{g.Count()} x {g.Key}").ToList();
        Assert.True(failed.Count == 0, $"of {Requests} requests in flight, these did not get 200: {string.Join("; ", failed)}");
        Assert.True(exited, "weft up did not exit within 30 s of SIGINT");
        Assert.Equal(0, mesh.Up.ExitCode);
        var left = ProcessTable.LeftOf(started);
        Assert.True(left.Count == 0, $"left running: {string.Join("; ", left)}");
    }
}

/// <summary>A test whose app is a Python script: skipped with the reason where there is no python3, except under CI=true.</summary>
public sealed class PythonFactAttribute : FactAttribute
{
    public PythonFactAttribute()
    {
        if (Environment.GetEnvironmentVariable("CI") != "true" && SlowAppMesh.Python() is null)
            Skip = "needs python3 (apt-get install python3; ./test.sh installs it)";
    }
}
