using System.Diagnostics;
using System.Net;
using Weft.Integration.Harness;
using Xunit.Abstractions;

namespace Weft.Integration.DataPlane;

/// <summary>
/// SIGTERM to a sidecar while 100 requests of 2 s each are in flight through both sidecars: every one
/// completes with 200, /ready says 503 while they do, HTTP/1 clients are told `Connection: close`,
/// HTTP/2 clients get GOAWAY, and the process exits once they are done, within its drain deadline.
/// </summary>
public sealed class DrainTests(ITestOutputHelper log) : IAsyncLifetime
{
    private const int Requests = 100;
    private const double DrainSeconds = 10;
    private TestApp _app = null!;
    private TwoSidecars _mesh = null!;

    public async Task InitializeAsync()
    {
        _app = await TestApp.StartAsync();
        _mesh = await TwoSidecars.StartAsync([new ServerApp("slow", _app.Http1Port, "http")], DrainSeconds);
    }

    public async Task DisposeAsync()
    {
        if (_mesh is not null) await _mesh.DisposeAsync();
        if (_app is not null) await _app.DisposeAsync();
    }

    [Fact]
    public async Task Sigterm_to_the_server_side_sidecar_lets_every_in_flight_request_finish()
    {
        using var http = NewClient();
        var requests = StartSlowRequests(http);
        await WaitForInFlightAsync(Requests);

        var drained = await SigtermAndWatchAsync(_mesh.Server("slow"), requests);

        var responses = await Task.WhenAll(requests);
        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.All(await Task.WhenAll(responses.Select(r => r.Content.ReadAsStringAsync())), b => Assert.Equal("slow done", b));
        await AssertExitedWithinDeadlineAsync(_mesh.Server("slow"), drained);
    }

    [Fact]
    public async Task Sigterm_to_the_client_side_sidecar_lets_every_in_flight_request_finish_and_tells_clients_to_go()
    {
        using var http = NewClient();
        var requests = StartSlowRequests(http);
        // An HTTP/1.1 keep-alive connection that served a request, then has one in flight.
        await using var keepAlive = await RawHttp1.ConnectAsync(_mesh.OutboundPort("slow"));
        await keepAlive.SendGetAsync("/hello");
        var first = await keepAlive.ReadResponseAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(200, first.Status);
        Assert.Null(first.Header("Connection"));
        await keepAlive.SendGetAsync("/slow");
        // An h2c connection with a stream in flight.
        await using var h2 = await RawHttp2.GetAsync(_mesh.OutboundPort("slow"), "/slow");
        await WaitForInFlightAsync(Requests + 2);

        var drained = await SigtermAndWatchAsync(_mesh.Client, requests);

        var responses = await Task.WhenAll(requests);
        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        // Told while draining: do not reuse this connection.
        Assert.All(responses, r => Assert.True(r.Headers.ConnectionClose, "response without Connection: close"));
        var second = await keepAlive.ReadResponseAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(200, second.Status);
        Assert.Equal("slow done", second.Text);
        Assert.Equal("close", second.Header("Connection"));
        Assert.True(await keepAlive.ClosedByPeerAsync(TimeSpan.FromSeconds(10)), "the keep-alive connection stayed open after Connection: close");

        var frames = await h2.ReadUntilStreamEndsAsync(TimeSpan.FromSeconds(10));
        log.WriteLine($"h2: {frames}");
        Assert.True(frames.GoAway, "no GOAWAY on the h2 connection");
        Assert.Equal(0u, frames.GoAwayError);          // NO_ERROR: a graceful close
        Assert.True(frames.Status200 && frames.StreamEnded && frames.Body == "slow done", $"the h2 stream did not finish: {frames}");
        // As HttpClient and grpc-js do after GOAWAY once their streams are done: close. (Kestrel does not
        // close an idle h2 connection after its final GOAWAY by itself; such a client holds the drain
        // until the deadline.)
        await h2.DisposeAsync();

        await AssertExitedWithinDeadlineAsync(_mesh.Client, drained);
    }

    private static HttpClient NewClient() =>
        new(new SocketsHttpHandler { MaxConnectionsPerServer = int.MaxValue }) { Timeout = TimeSpan.FromSeconds(30) };

    private Task<HttpResponseMessage>[] StartSlowRequests(HttpClient http) =>
        Enumerable.Range(0, Requests).Select(_ => http.GetAsync(_mesh.Outbound("slow", "/slow"))).ToArray();

    private Task WaitForInFlightAsync(int count) =>
        Eventually.HoldsAsync(() => _app.SlowInFlight == count, TimeSpan.FromSeconds(15),
            () => $"only {_app.SlowInFlight} of {count} requests reached the app");

    /// <summary>Sends SIGTERM; returns a clock started then, once /ready said 503 while requests were still in flight.</summary>
    private async Task<Stopwatch> SigtermAndWatchAsync(TwoSidecars.Sidecar sidecar, Task<HttpResponseMessage>[] requests)
    {
        var clock = Stopwatch.StartNew();
        sidecar.Process.Signal(Posix.SIGTERM);
        await Eventually.HoldsAsync(async () => await _mesh.StatusOfAsync(sidecar.Admin("/ready")) == HttpStatusCode.ServiceUnavailable,
            TimeSpan.FromSeconds(5), () => "/ready never said 503 after SIGTERM:\n" + sidecar.Process.Output);
        var pending = requests.Count(r => !r.IsCompleted);
        log.WriteLine($"/ready 503 after {clock.ElapsedMilliseconds} ms with {pending} requests in flight");
        Assert.True(pending > 0, "every request had finished before /ready turned 503: the drain was not observed");
        Assert.False(sidecar.Process.HasExited, "the proxy exited while requests were in flight");
        return clock;
    }

    private async Task AssertExitedWithinDeadlineAsync(TwoSidecars.Sidecar sidecar, Stopwatch sinceSignal)
    {
        Assert.True(await sidecar.Process.WaitForExitAsync(TimeSpan.FromSeconds(DrainSeconds + 5)), "still running after the drain deadline:\n" + sidecar.Process.Output);
        log.WriteLine($"exited {sinceSignal.ElapsedMilliseconds} ms after SIGTERM (code {sidecar.Process.ExitCode}); its output:\n{sidecar.Process.Output}");
        Assert.Equal(0, sidecar.Process.ExitCode);
        // Done when the requests are done, not at the deadline.
        Assert.True(sinceSignal.Elapsed < TimeSpan.FromSeconds(DrainSeconds), $"took {sinceSignal.Elapsed} to exit");
    }
}
