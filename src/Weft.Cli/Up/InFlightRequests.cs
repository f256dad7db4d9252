using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;

namespace Weft.Cli.Up;

/// <summary>
/// Requests inside apps, as their sidecars count them: <c>weft_requests_active{direction="inbound"}</c>
/// on each sidecar's admin /stats/prometheus (received by the sidecar, not yet answered by its app).
/// </summary>
internal static class InFlightRequests
{
    private const string InboundGauge = "weft_requests_active{direction=\"inbound\"} ";
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan AttemptTimeout = TimeSpan.FromSeconds(1);

    /// <summary>The inbound gauge's value in a Prometheus text page; null when the page has none.</summary>
    public static long? ParseInbound(string prometheus)
    {
        foreach (var line in prometheus.AsSpan().EnumerateLines())
        {
            if (!line.StartsWith(InboundGauge, StringComparison.Ordinal)) continue;
            return double.TryParse(line[InboundGauge.Length..], NumberStyles.Float, CultureInfo.InvariantCulture, out var value) ? (long)value : null;
        }
        return null;
    }

    /// <summary>
    /// Requests inside the app beside the sidecar at <paramref name="admin"/>: 0 when nothing listens
    /// there (a sidecar that is gone passes nothing to its app); null when it did not answer in time or
    /// answered without the gauge, which a caller must not take for none.
    /// </summary>
    public static async Task<long?> InboundAsync(Uri admin, CancellationToken ct)
    {
        using var attempt = CancellationTokenSource.CreateLinkedTokenSource(ct);
        attempt.CancelAfter(AttemptTimeout);
        try
        {
            using var response = await AdminHttp.Client.GetAsync(new Uri(admin, "stats/prometheus"), attempt.Token).ConfigureAwait(false);
            if (response.StatusCode != System.Net.HttpStatusCode.OK) return null;
            return ParseInbound(await response.Content.ReadAsStringAsync(attempt.Token).ConfigureAwait(false));
        }
        catch (HttpRequestException e) when (e.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionRefused })
        {
            return 0;
        }
        catch (HttpRequestException)
        {
            return null;
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return null;
        }
    }

    /// <summary>
    /// Returns once no sidecar counts a request inside its app, on two polls in a row (a request in
    /// flight at one app may have been about to call another when that one was read). At
    /// <paramref name="deadline"/>: the sidecars still counting requests, by name, null for one that did
    /// not answer; empty when all finished in time.
    /// </summary>
    public static async Task<IReadOnlyDictionary<string, long?>> WaitForNoneAsync(IReadOnlyList<(string Name, Uri Admin)> sidecars,
        TimeSpan deadline, CancellationToken ct = default)
    {
        var clock = Stopwatch.StartNew();
        var quietRounds = 0;
        while (true)
        {
            var counts = await Task.WhenAll(sidecars.Select(async s => (s.Name, Count: await InboundAsync(s.Admin, ct).ConfigureAwait(false)))).ConfigureAwait(false);
            var busy = counts.Where(c => c.Count is not 0).ToDictionary(c => c.Name, c => c.Count, StringComparer.Ordinal);
            quietRounds = busy.Count == 0 ? quietRounds + 1 : 0;
            if (quietRounds == 2) return busy;
            if (clock.Elapsed + Poll > deadline) return busy;
            await Task.Delay(Poll, ct).ConfigureAwait(false);
        }
    }

    /// <summary>"web-0 3, catalog-0 no answer": what <see cref="WaitForNoneAsync"/> left, for a log line.</summary>
    public static string Describe(IReadOnlyDictionary<string, long?> busy) =>
        string.Join(", ", busy.Select(b => b.Value is { } n ? $"{b.Key} {n.ToString(CultureInfo.InvariantCulture)}" : $"{b.Key} no answer"));
}
