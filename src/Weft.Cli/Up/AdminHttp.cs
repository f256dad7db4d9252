namespace Weft.Cli.Up;

/// <summary>The one HTTP client `weft up` reads its own processes' endpoints with (admin ports, the control plane's /ready).</summary>
internal static class AdminHttp
{
    // No proxy settings: these are our own endpoints, never to go through HTTP_PROXY.
    public static readonly HttpClient Client = new(new SocketsHttpHandler { UseProxy = false, PooledConnectionLifetime = TimeSpan.FromSeconds(5) })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };

    /// <summary>The body of a 200 answer; null when the endpoint is not there, answers otherwise or not within <paramref name="timeout"/>.</summary>
    public static async Task<string?> GetStringAsync(Uri url, TimeSpan timeout, CancellationToken ct)
    {
        using var attempt = CancellationTokenSource.CreateLinkedTokenSource(ct);
        attempt.CancelAfter(timeout);
        try
        {
            using var response = await Client.GetAsync(url, attempt.Token).ConfigureAwait(false);
            if (response.StatusCode != System.Net.HttpStatusCode.OK) return null;
            return await response.Content.ReadAsStringAsync(attempt.Token).ConfigureAwait(false);
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
}
