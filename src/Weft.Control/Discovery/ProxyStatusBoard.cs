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
    private readonly TimeProvider _time;
    private readonly TimeSpan _disconnectedRetention;

    public ProxyStatusBoard(TimeProvider time, TimeSpan disconnectedRetention)
    {
        _time = time;
        _disconnectedRetention = disconnectedRetention;
    }

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
                    _entries.TryRemove(new KeyValuePair<string, Entry>(id, entry));
                    continue;
                }
                result.Add(entry.Status);
            }
            result.Sort(static (a, b) => string.CompareOrdinal(a.Id, b.Id));
            return result;
        }
    }

    /// <summary>Raised after any proxy's record changed (from the stream's thread): lets waiters such as apply --wait avoid polling.</summary>
    public event Action<ProxyStatus>? Changed;

    public ProxyStatus? Find(string id) => _entries.TryGetValue(id, out var e) ? e.Status : null;

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
