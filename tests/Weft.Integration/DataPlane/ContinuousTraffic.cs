using System.Net;
using System.Text.RegularExpressions;

namespace Weft.Integration.DataPlane;

/// <summary>
/// Callers that send requests to one URL until stopped, each on its own keep-alive connection (caller 0
/// opens a fresh one every <c>freshEvery</c>), counting what was sent and every request that failed.
/// What certificate renewal and root rotation are measured against: not one failure.
/// </summary>
internal sealed class ContinuousTraffic : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly List<string> _failures = [];
    private readonly List<Task> _callers;
    private int _sent;

    private ContinuousTraffic(Uri url, int callers, TimeSpan freshEvery) =>
        _callers = [.. Enumerable.Range(0, callers).Select(c => CallAsync(url, c == 0 ? freshEvery : TimeSpan.FromMinutes(10)))];

    public static ContinuousTraffic Start(Uri url, int callers = 4, TimeSpan? freshEvery = null) => new(url, callers, freshEvery ?? TimeSpan.FromSeconds(2));

    public int Sent => Volatile.Read(ref _sent);

    public IReadOnlyList<string> Failures
    {
        get { lock (_failures) return [.. _failures]; }
    }

    /// <summary>Waits until <paramref name="more"/> requests beyond those sent so far went out (traffic flows).</summary>
    public Task FlowsAsync(int more, string what)
    {
        var before = Sent;
        return Eventually.HoldsAsync(() => Sent > before + more, TimeSpan.FromSeconds(20), () => "traffic stalled " + what);
    }

    public async Task StopAsync()
    {
        await _stop.CancelAsync();
        await Task.WhenAll(_callers);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _stop.Dispose();
    }

    /// <summary>Inbound mTLS connections a sidecar accepted so far (its metrics' text).</summary>
    public static long AcceptedMtls(string metrics) =>
        Regex.Matches(metrics, @"^weft_mtls_connections_total\{[^}]*outcome=""accepted""\} (\d+)$", RegexOptions.Multiline)
            .Sum(m => long.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));

    private async Task CallAsync(Uri url, TimeSpan connectionLifetime)
    {
        using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false, PooledConnectionLifetime = connectionLifetime })
        {
            Timeout = TimeSpan.FromSeconds(10),
        };
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                using var response = await http.GetAsync(url);
                Interlocked.Increment(ref _sent);
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    var body = await response.Content.ReadAsStringAsync();
                    lock (_failures) _failures.Add($"{(int)response.StatusCode} {body}");
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                lock (_failures) _failures.Add(e.Message);
            }
        }
    }
}
