namespace Weft.Cli.Up;

/// <summary>How long to wait before restarting a process that exited by itself.</summary>
/// <param name="ResetAfter">A run at least this long counts as healthy: the next crash starts over at Initial.</param>
internal sealed record RestartPolicy(TimeSpan Initial, TimeSpan Max, TimeSpan ResetAfter)
{
    public static readonly RestartPolicy Default = new(TimeSpan.FromSeconds(0.5), TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(30));
}

/// <summary>
/// Exponential backoff (doubling up to Max) between restarts of one process, so a crash loop costs
/// little CPU while a process that crashes once after a long healthy run comes back at once.
/// </summary>
internal sealed class RestartBackoff(RestartPolicy policy)
{
    private TimeSpan _next = policy.Initial;

    /// <summary>The delay before the next start, given how long the process ran this time.</summary>
    public TimeSpan Next(TimeSpan ranFor)
    {
        if (ranFor >= policy.ResetAfter) _next = policy.Initial;
        var delay = _next;
        var doubled = _next * 2;
        _next = doubled > policy.Max ? policy.Max : doubled;
        return delay;
    }
}
