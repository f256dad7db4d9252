using System.Text.Json;
using Weft.Control.Store;

namespace Weft.Control.Ca;

/// <summary>
/// The newest certificate the CA issued to each holder (a proxy's instance, or the control plane's own
/// serving certificate): the root it chains to and when it expires. A root rotation retires the old root
/// only once no entry under it is still alive. Kept in the CA folder (`issued.json`) across restarts,
/// so a certificate issued before a restart still counts; expired entries are dropped as it is written.
/// </summary>
internal sealed class CertificateLedger
{
    public const string FileName = "issued.json";

    private readonly string _path;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Entry> _entries;

    public sealed record Entry(string Root, DateTimeOffset NotAfter);

    private CertificateLedger(string path, TimeProvider time, Dictionary<string, Entry> entries)
    {
        _path = path;
        _time = time;
        _entries = entries;
    }

    public static CertificateLedger Open(string dir, TimeProvider time)
    {
        var path = Path.Combine(dir, FileName);
        Dictionary<string, Entry> entries = new(StringComparer.Ordinal);
        if (File.Exists(path))
        {
            try
            {
                entries = JsonSerializer.Deserialize<Dictionary<string, Entry>>(File.ReadAllText(path)) ?? entries;
            }
            catch (JsonException e)
            {
                throw new CaException($"{path}: not the CA's ledger of issued certificates ({e.Message}); remove it only if no root rotation is under way");
            }
        }
        return new CertificateLedger(path, time, new Dictionary<string, Entry>(entries, StringComparer.Ordinal));
    }

    public void Record(string holder, string root, DateTimeOffset notAfter)
    {
        lock (_gate)
        {
            _entries[holder] = new Entry(root, notAfter);
            var now = _time.GetUtcNow();
            foreach (var expired in _entries.Where(e => e.Value.NotAfter <= now).Select(e => e.Key).ToList())
                _entries.Remove(expired);
            DurableFile.WriteAtomically(_path, JsonSerializer.SerializeToUtf8Bytes(_entries), DurableFile.OwnerOnly, replace: true);
        }
    }

    /// <summary>The holders whose newest certificate chains to <paramref name="root"/> and has not expired.</summary>
    public IReadOnlyList<(string Holder, DateTimeOffset NotAfter)> LiveUnder(string root)
    {
        var now = _time.GetUtcNow();
        lock (_gate)
            return [.. _entries.Where(e => e.Value.Root == root && e.Value.NotAfter > now).OrderBy(e => e.Key, StringComparer.Ordinal)
                .Select(e => (e.Key, e.Value.NotAfter))];
    }
}
