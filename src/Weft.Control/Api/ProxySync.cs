using Weft.Control.Discovery;

namespace Weft.Control.Api;

/// <summary>Which connected proxies have not yet acknowledged a revision (for `weft apply --wait`).</summary>
internal static class ProxySync
{
    public static List<ProxyStatus> Pending(IReadOnlyList<ProxyStatus> proxies, long revision) =>
        proxies.Where(p => p.Connected && p.RevisionAcked < revision).ToList();

    /// <summary>
    /// A proxy that rejected the revision will never ack it, so waiting longer cannot help: the
    /// long-poll answers as soon as every pending proxy has NACKed it.
    /// </summary>
    public static bool Settled(List<ProxyStatus> pending, long revision) =>
        pending.TrueForAll(p => p.RevisionNacked >= revision);

    public static async Task<SyncResponse> WaitAsync(IProxyStatusView view, long revision, TimeSpan timeout,
        TimeProvider time, CancellationToken cancellationToken)
    {
        // The status view has no change event, so poll it; 100 ms is well below a human's notice.
        var interval = TimeSpan.FromMilliseconds(100);
        var deadline = time.GetUtcNow() + timeout;
        while (true)
        {
            var pending = Pending(view.Proxies, revision);
            var left = deadline - time.GetUtcNow();
            if (pending.Count == 0 || Settled(pending, revision) || left <= TimeSpan.Zero)
                return new SyncResponse(revision, pending.Count == 0, pending);
            await Task.Delay(left < interval ? left : interval, time, cancellationToken).ConfigureAwait(false);
        }
    }
}
