using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Weft.Model.Resources;

namespace Weft.Control.Store;

/// <summary>
/// <see cref="IConfigStore"/> on the local file system: one self-contained file per revision under
/// <c>DATA_DIR/revisions</c>, written with <see cref="DurableFile"/> so an acknowledged change survives
/// kill -9. Readers take the current snapshot without locks; writers go one at a time.
/// </summary>
public sealed partial class FileConfigStore : IConfigStore, IDisposable
{
    private static readonly Comparer<ResourceKey> KeyOrder = Comparer<ResourceKey>.Create(ConfigSnapshotQueries.Compare);

    private readonly string _dir;
    private readonly IResourceCodec _codec;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _writer = new(1, 1);
    private readonly FileStream _lock;
    private volatile ConfigSnapshot _current;
    private volatile ImmutableList<RevisionInfo> _history;

    private FileConfigStore(string dir, FileStream dirLock, IResourceCodec codec, TimeProvider time, ILogger logger,
        ConfigSnapshot current, ImmutableList<RevisionInfo> history)
    {
        (_dir, _lock, _codec, _time, _logger, _current, _history) = (dir, dirLock, codec, time, logger, current, history);
    }

    /// <summary>Opens (creating if needed) the store in <paramref name="dataDir"/> and loads its latest revision.</summary>
    public static FileConfigStore Open(string dataDir, TimeProvider? time = null, ILogger<FileConfigStore>? logger = null) =>
        Open(dataDir, ResourceJsonCodec.Instance, time, logger);

    internal static FileConfigStore Open(string dataDir, IResourceCodec codec, TimeProvider? time = null, ILogger? logger = null)
    {
        var dir = Path.Combine(Path.GetFullPath(dataDir), "revisions");
        Directory.CreateDirectory(dir);
        var dirLock = Lock(Path.GetFullPath(dataDir));
        try
        {
            return Load(dir, dirLock, codec, time, logger);
        }
        catch
        {
            dirLock.Dispose();
            throw;
        }
    }

    /// <summary>The file a running control plane holds open exclusively in its data dir (what LocalControls checks).</summary>
    internal const string LockFileName = "lock";

    /// <summary>
    /// Two control planes on one data dir would hand out the same revision numbers; FileShare.None is an
    /// exclusive flock on Unix, released by the OS even on kill -9.
    /// </summary>
    private static FileStream Lock(string dataDir)
    {
        var path = Path.Combine(dataDir, LockFileName);
        try
        {
            return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e)
        {
            throw new IOException($"config store: {dataDir} is in use by another control plane (lock {path} is held)", e);
        }
    }

    private static FileConfigStore Load(string dir, FileStream dirLock, IResourceCodec codec, TimeProvider? time, ILogger? logger)
    {
        // Leftovers of a write cut short by a crash: never acknowledged, so never a revision.
        foreach (var temp in Directory.EnumerateFiles(dir, DurableFile.TempPrefix + "*")) DurableFile.TryDelete(temp);

        var history = ImmutableList.CreateBuilder<RevisionInfo>();
        var current = ConfigSnapshot.Empty;
        var revisions = RevisionFile.List(dir);
        for (var i = 0; i < revisions.Count; i++)
        {
            var latest = i == revisions.Count - 1;
            var (info, resources) = RevisionFile.Read(RevisionFile.PathFor(dir, revisions[i]), revisions[i], codec, withResources: latest);
            history.Add(info);
            if (latest) current = new ConfigSnapshot(info.Revision, resources!);
        }
        return new FileConfigStore(dir, dirLock, codec, time ?? TimeProvider.System, logger ?? NullLogger.Instance, current, history.ToImmutable());
    }

    public ConfigSnapshot Current => _current;

    public event Action<ConfigSnapshot>? Changed;

    public IReadOnlyList<RevisionInfo> History() => _history;

    public IReadOnlyList<Resource> Get(string? kind = null, string? ns = null, string? name = null) => _current.Select(kind, ns, name);

    public async Task<ChangeResult> ApplyAsync(IReadOnlyList<Resource> upserts, bool dryRun, CancellationToken cancellationToken = default)
    {
        await _writer.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var current = _current;
            var next = current.Resources.ToBuilder();
            var changes = new List<ResourceChange>(upserts.Count);
            var seen = new HashSet<ResourceKey>();
            foreach (var resource in upserts)
            {
                if (!seen.Add(resource.Key))
                    return ChangeResult.Failed(current.Revision, StoreErrorCode.Duplicate, $"{Describe(resource.Key)} appears more than once");
                var action = !current.Resources.TryGetValue(resource.Key, out var existing) ? ChangeAction.Created
                    : existing.Equals(resource) ? ChangeAction.Unchanged
                    : ChangeAction.Configured;
                next[resource.Key] = resource;
                changes.Add(new ResourceChange(resource.ApiVersion, resource.Key, action));
            }
            return Commit(current, next.ToImmutable(), changes, "apply", dryRun);
        }
        finally
        {
            _writer.Release();
        }
    }

    public async Task<ChangeResult> DeleteAsync(IReadOnlyList<ResourceKey> keys, bool dryRun, bool ignoreMissing = false, CancellationToken cancellationToken = default)
    {
        await _writer.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var current = _current;
            var next = current.Resources.ToBuilder();
            var changes = new List<ResourceChange>(keys.Count);
            var missing = new List<ResourceKey>();
            foreach (var key in keys.Distinct())
            {
                if (next.TryGetValue(key, out var existing))
                {
                    next.Remove(key);
                    changes.Add(new ResourceChange(existing.ApiVersion, key, ChangeAction.Deleted));
                }
                else if (!ignoreMissing)
                {
                    missing.Add(key);
                }
            }
            if (missing.Count > 0)
                return ChangeResult.Failed(current.Revision, StoreErrorCode.NotFound,
                    $"not found: {string.Join(", ", missing.Select(Describe))}; nothing was deleted");
            return Commit(current, next.ToImmutable(), changes, "delete", dryRun);
        }
        finally
        {
            _writer.Release();
        }
    }

    public async Task<ChangeResult> RollbackAsync(long? revision, CancellationToken cancellationToken = default)
    {
        await _writer.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var current = _current;
            var target = revision ?? current.Revision - 1;
            // Revision 0 is the empty config before the first change, so the first apply can be undone too.
            if (target < 0 || target > current.Revision || (target > 0 && !File.Exists(RevisionFile.PathFor(_dir, target))))
            {
                var message = revision is null
                    ? "nothing to roll back: the store has no revisions yet"
                    : $"unknown revision {target}: revisions are 0..{current.Revision} (see `weft history`)";
                return ChangeResult.Failed(current.Revision, StoreErrorCode.UnknownRevision, message);
            }
            var resources = target == 0
                ? ImmutableDictionary<ResourceKey, Resource>.Empty
                : RevisionFile.Read(RevisionFile.PathFor(_dir, target), target, _codec, withResources: true).Resources!;
            return Commit(current, resources, Diff(current.Resources, resources), $"rollback to {target}", dryRun: false);
        }
        finally
        {
            _writer.Release();
        }
    }

    /// <summary>Makes <paramref name="next"/> the new revision, unless this is a dry run or nothing changed. Caller holds the writer lock.</summary>
    private ChangeResult Commit(ConfigSnapshot current, ImmutableDictionary<ResourceKey, Resource> next,
        List<ResourceChange> changes, string cause, bool dryRun)
    {
        var effective = changes.Where(c => c.Action != ChangeAction.Unchanged).ToList();
        if (dryRun || effective.Count == 0) return new ChangeResult(current.Revision, false, dryRun, changes, null);

        var info = new RevisionInfo(current.Revision + 1, _time.GetUtcNow(), cause, effective, next.Count);
        var ordered = next.Values.OrderBy(r => r.Key, KeyOrder);
        DurableFile.WriteAtomically(RevisionFile.PathFor(_dir, info.Revision), RevisionFile.Encode(info, ordered, _codec));

        var snapshot = new ConfigSnapshot(info.Revision, next);
        _history = _history.Add(info);
        _current = snapshot;
        RaiseChanged(snapshot);
        return new ChangeResult(info.Revision, true, false, changes, null);
    }

    /// <summary>
    /// Raised under the writer lock so subscribers see revisions in order. A failing subscriber must not
    /// turn a durable change into an error for the caller, so it is logged and the next one still runs.
    /// </summary>
    private void RaiseChanged(ConfigSnapshot snapshot)
    {
        if (Changed is not { } handlers) return;
        foreach (var handler in handlers.GetInvocationList().Cast<Action<ConfigSnapshot>>())
        {
            try { handler(snapshot); }
            catch (Exception e) { LogSubscriberFailed(_logger, e, snapshot.Revision); }
        }
    }

    private static List<ResourceChange> Diff(ImmutableDictionary<ResourceKey, Resource> from, ImmutableDictionary<ResourceKey, Resource> to)
    {
        var changes = new List<ResourceChange>();
        foreach (var (key, resource) in to.OrderBy(p => p.Key, KeyOrder))
        {
            var action = !from.TryGetValue(key, out var old) ? ChangeAction.Created
                : old.Equals(resource) ? ChangeAction.Unchanged : ChangeAction.Configured;
            changes.Add(new ResourceChange(resource.ApiVersion, key, action));
        }
        foreach (var (key, resource) in from.OrderBy(p => p.Key, KeyOrder))
        {
            if (!to.ContainsKey(key)) changes.Add(new ResourceChange(resource.ApiVersion, key, ChangeAction.Deleted));
        }
        return changes;
    }

    private static string Describe(ResourceKey key) => $"{key.Kind} {key.Namespace}/{key.Name}";

    public void Dispose()
    {
        _lock.Dispose();
        _writer.Dispose();
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Error, Message = "config store: a Changed subscriber failed for revision {Revision}")]
    private static partial void LogSubscriberFailed(ILogger logger, Exception exception, long revision);
}
