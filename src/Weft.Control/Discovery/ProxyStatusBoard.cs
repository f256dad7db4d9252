using System.Collections.Concurrent;

namespace Weft.Control.Discovery;

/// <summary>
/// The per-proxy sync records behind `weft status`. Each stream owns the record of its proxy and swaps in a
/// new immutable <see cref="ProxyStatus"/> on every step, so readers never lock. A proxy that reconnects
/// gets a fresh record; the old stream's late updates are dropped by stream id.
/// </summary>
public sealed class ProxyStatusBoard : IProxyStatusView
{
    public const string Synced = "SYNCED";
    public const string Stale = "STALE";
    public const string Disconnected = "DISCONNECTED";
    public static string Nacked(string reason) => "NACKED: " + reason;

    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    // Kept apart from the sync records: a proxy asks for its certificate while its stream opens, in either order.
    private readonly ConcurrentDictionary<string, (string Namespace, string ServiceAccount, string SpiffeId, DateTimeOffset NotBefore, DateTimeOffset NotAfter)> _certificates = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;
    private readonly TimeSpan _disconnectedRetention;

    public ProxyStatusBoard(TimeProvider time, TimeSpan disconnectedRetention)
    {
        _time = time;
        _disconnectedRetention = disconnectedRetention;
    }

    /// <summary>
    /// The proxies a root rotation waits for before the CA issues under the new root: those that have not
    /// applied the trust bundle of <paramref name="generation"/>, connected or lately disconnected (a
    /// proxy cut off from the control plane may still be serving with the old bundle). One that stays
    /// away leaves the board after the retention, and a proxy that starts anew gets the current bundle.
    /// </summary>
    public IReadOnlyList<string> ProxiesWithoutBundle(long generation) =>
        [.. Proxies.Where(p => p.TrustBundleGeneration < generation).Select(p => p.Connected ? p.Id : p.Id + " (disconnected)").Order(StringComparer.Ordinal)];

    public IReadOnlyList<ProxyStatus> Proxies
    {
        get
        {
            var now = _time.GetUtcNow();
            var result = new List<ProxyStatus>(_entries.Count);
            foreach (var (id, entry) in _entries)
            {
                // Pruned on read: a gone proxy stays visible long enough to be noticed, then leaves.
                if (entry.ClosedAt is { } closed && now - closed >= _disconnectedRetention)
                {
                    if (_entries.TryRemove(new KeyValuePair<string, Entry>(id, entry)))
                        _certificates.TryRemove(id, out _);
                    continue;
                }
                result.Add(WithCertificate(entry.Status));
            }
            result.Sort(static (a, b) => string.CompareOrdinal(a.Id, b.Id));
            return result;
        }
    }

    /// <summary>Raised after any proxy's record changed (from the stream's thread): lets waiters such as apply --wait avoid polling.</summary>
    public event Action<ProxyStatus>? Changed;

    public ProxyStatus? Find(string id) => _entries.TryGetValue(id, out var e) ? WithCertificate(e.Status) : null;

    /// <summary>The CA issued a certificate to the proxy that calls itself <paramref name="instance"/>.</summary>
    /// <remarks>
    /// The name is the caller's claim, so what is kept is bounded: a name no longer than a DNS name, and
    /// past <see cref="MaxUnmatchedCertificates"/> records only proxies that have a row. A record goes
    /// when its row is pruned.
    /// </remarks>
    public void RecordCertificate(string instance, string ns, string serviceAccount, string spiffeId, DateTimeOffset notBefore, DateTimeOffset notAfter)
    {
        if (instance.Length is 0 or > 253)
            return;
        if (_certificates.Count >= MaxUnmatchedCertificates && !_entries.ContainsKey(instance) && !_certificates.ContainsKey(instance))
            return;
        _certificates[instance] = (ns, serviceAccount, spiffeId, notBefore, notAfter);
    }

    /// <summary>Certificates kept for instances that have no row yet (a proxy certifies while its stream opens).</summary>
    public const int MaxUnmatchedCertificates = 65_536;

    /// <summary>
    /// The record with its certificate, when the certificate's service account is the proxy's own (a
    /// service's workloads run as the account of its name): a token of another account cannot dress
    /// up someone else's row.
    /// </summary>
    private ProxyStatus WithCertificate(ProxyStatus status) =>
        _certificates.TryGetValue(status.Id, out var c) && c.Namespace == status.Namespace && c.ServiceAccount == StatusAccount(status)
            ? status with { SpiffeId = c.SpiffeId, CertificateNotBefore = c.NotBefore, CertificateNotAfter = c.NotAfter }
            : status;

    /// <summary>The service account a proxy's row stands for: its service's name, or the gateway's account.</summary>
    private static string StatusAccount(ProxyStatus status) => status.Role == "gateway" ? "ingress" : status.Service;

    internal void Open(long streamId, ProxyStatus status)
    {
        _entries[status.Id] = new Entry(streamId, status, null);
        Changed?.Invoke(status);
    }

    internal void Update(long streamId, string id, Func<ProxyStatus, ProxyStatus> change)
    {
        while (_entries.TryGetValue(id, out var entry) && entry.StreamId == streamId)
        {
            var updated = change(entry.Status);
            if (updated == entry.Status) return;
            if (_entries.TryUpdate(id, entry with { Status = updated }, entry))
            {
                Changed?.Invoke(updated);
                return;
            }
        }
    }

    internal void Close(long streamId, string id)
    {
        var now = _time.GetUtcNow();
        while (_entries.TryGetValue(id, out var entry) && entry.StreamId == streamId)
        {
            var closed = entry with { Status = entry.Status with { Connected = false, SyncState = Disconnected }, ClosedAt = now };
            if (_entries.TryUpdate(id, closed, entry))
            {
                Changed?.Invoke(closed.Status);
                return;
            }
        }
    }

    private sealed record Entry(long StreamId, ProxyStatus Status, DateTimeOffset? ClosedAt);
}
