namespace Weft.Cli.Up;

/// <summary>Waits for an HTTP endpoint (a proxy's admin /ready, the control plane's /ready) to answer 200.</summary>
internal static class ReadinessProbe
{
    private static readonly TimeSpan PollEvery = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan AttemptTimeout = TimeSpan.FromSeconds(1);

    /// <summary>True once <paramref name="url"/> answered 200; false if it had not by the deadline.</summary>
    public static async Task<bool> WaitAsync(Uri url, TimeSpan deadline, CancellationToken cancellationToken = default, TimeProvider? time = null)
    {
        time ??= TimeProvider.System;
        var start = time.GetTimestamp();
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using (var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                attempt.CancelAfter(AttemptTimeout);
                try
                {
                    using var response = await AdminHttp.Client.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, attempt.Token);
                    if (response.StatusCode == System.Net.HttpStatusCode.OK) return true;
                }
                catch (HttpRequestException)
                {
                    // Not listening yet.
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    // This attempt timed out; the deadline decides whether to go on.
                }
            }
            if (time.GetElapsedTime(start) + PollEvery > deadline) return false;
            await Task.Delay(PollEvery, time, cancellationToken);
        }
    }
}
