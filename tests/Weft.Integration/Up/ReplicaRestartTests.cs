using System.Collections.Concurrent;
using System.Diagnostics;
using Weft.Integration.Harness;
using Xunit.Abstractions;

namespace Weft.Integration.Up;

/// <summary>
/// `weft restart INSTANCE` and `weft stop INSTANCE` take one replica out of service without failing a
/// request: the app (a Python http.server that dies at once on SIGTERM, 2 s per request) has 100
/// requests in flight, and new requests keep arriving through the ingress meanwhile.
/// </summary>
public sealed class ReplicaRestartTests(ITestOutputHelper output)
{
    private const int InFlight = 100;

    [PythonFact]
    public async Task A_graceful_restart_finishes_the_requests_in_flight_and_sends_new_ones_to_the_other_replica()
    {
        await using var mesh = await SlowAppMesh.StartAsync(replicas: 2);
        using var http = SlowAppMesh.Client();
        var before = (await mesh.ReportedProcessesAsync(http)).Single(p => p.Name == "slow-0").Pid;

        // 100 requests inside slow-0's app, sent to its sidecar.
        var inFlight = Enumerable.Range(0, InFlight).Select(_ => SlowAppMesh.GetAsync(http, $"http://127.0.0.1:{mesh.Replicas["slow-0"].Inbound}/work")).ToList();
        await UpTestSupport.WaitUntilAsync(async () => await mesh.AppCountsAsync(http, "slow-0") is { Active: InFlight }, $"{InFlight} requests inside slow-0");

        var clock = Stopwatch.StartNew();
        var restart = mesh.WeftAsync("restart", "slow-0");
        var arriving = await SendThroughIngressUntilAsync(mesh, http, restart);
        var (code, text) = await restart;
        output.WriteLine($"weft restart: exit {code} after {clock.ElapsedMilliseconds} ms\n{text}");
        var results = await Task.WhenAll(inFlight);

        AssertAll200($"the {InFlight} requests in flight on slow-0", results);
        AssertAll200($"the {arriving.Count} requests that arrived through the ingress during the restart", arriving);
        Assert.True(code == 0, $"weft restart failed ({code}):\n{text}\n{mesh.Up.Output}");
        Assert.Contains("slow-0: restarted; its endpoint is back", text);
        Assert.Contains(arriving, r => r.Body == "slow-1");
        var after = (await mesh.ReportedProcessesAsync(http)).Single(p => p.Name == "slow-0").Pid;
        Assert.NotEqual(before, after);

        // It is back in service: the ingress sends it requests again.
        await UpTestSupport.WaitUntilAsync(async () => (await SlowAppMesh.GetAsync(http, $"http://127.0.0.1:{mesh.IngressPort}/again")).Body == "slow-0",
            "the ingress sends requests to the restarted slow-0", TimeSpan.FromSeconds(30));
    }

    [PythonFact]
    public async Task A_graceful_stop_takes_the_replica_out_for_good_until_it_is_restarted()
    {
        await using var mesh = await SlowAppMesh.StartAsync(replicas: 2);
        using var http = SlowAppMesh.Client();
        var reported = await mesh.ReportedProcessesAsync(http);
        var stopped = reported.Where(p => p.Name.StartsWith("slow-0", StringComparison.Ordinal)).Select(p => p.Pid).ToList();
        Assert.Equal(2, stopped.Count); // the app and its sidecar

        var inFlight = Enumerable.Range(0, InFlight).Select(_ => SlowAppMesh.GetAsync(http, $"http://127.0.0.1:{mesh.Replicas["slow-0"].Inbound}/work")).ToList();
        await UpTestSupport.WaitUntilAsync(async () => await mesh.AppCountsAsync(http, "slow-0") is { Active: InFlight }, $"{InFlight} requests inside slow-0");

        var stop = mesh.WeftAsync("stop", "slow-0");
        var arriving = await SendThroughIngressUntilAsync(mesh, http, stop);
        var (code, text) = await stop;
        output.WriteLine($"weft stop: exit {code}\n{text}");
        AssertAll200($"the {InFlight} requests in flight on slow-0", await Task.WhenAll(inFlight));
        AssertAll200($"the {arriving.Count} requests that arrived through the ingress during the stop", arriving);
        Assert.True(code == 0, $"weft stop failed ({code}):\n{text}\n{mesh.Up.Output}");
        var left = ProcessTable.LeftOf(stopped);
        Assert.True(left.Count == 0, $"slow-0's processes still run: {string.Join("; ", left)}");

        // Out for good: every new request goes to slow-1, with no error while slow-0's sidecar is gone.
        var after = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => SlowAppMesh.GetAsync(http, $"http://127.0.0.1:{mesh.IngressPort}/after")));
        AssertAll200("requests after the stop", after);
        Assert.All(after, r => Assert.Equal("slow-1", r.Body));

        var (again, againText) = await mesh.WeftAsync("restart", "slow-0");
        Assert.True(again == 0, $"weft restart of the stopped slow-0 failed ({again}):\n{againText}\n{mesh.Up.Output}");
        await UpTestSupport.WaitUntilAsync(async () => (await SlowAppMesh.GetAsync(http, $"http://127.0.0.1:{mesh.IngressPort}/again")).Body == "slow-0",
            "the ingress sends requests to slow-0 again", TimeSpan.FromSeconds(30));
    }

    /// <summary>One request through the ingress every 50 ms until <paramref name="until"/> completes; every result.</summary>
    private static async Task<IReadOnlyList<(int Status, string Body)>> SendThroughIngressUntilAsync(SlowAppMesh mesh, HttpClient http, Task until)
    {
        var sent = new ConcurrentBag<Task<(int, string)>>();
        while (!until.IsCompleted)
        {
            sent.Add(SlowAppMesh.GetAsync(http, $"http://127.0.0.1:{mesh.IngressPort}/during"));
            await Task.WhenAny(until, Task.Delay(50));
        }
        return await Task.WhenAll(sent);
    }

    private static void AssertAll200(string what, IReadOnlyList<(int Status, string Body)> results)
    {
        var failed = results.Where(r => r.Status != 200).GroupBy(r => $"{r.Status} {r.Body.Trim()}").Select(g => $"{g.Count()} x {g.Key}").ToList();
        Assert.True(failed.Count == 0, $"of {what}, these did not get 200: {string.Join("; ", failed)}");
    }
}
