using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Weft.Protocol.Discovery;

namespace Weft.Control.Registry;

/// <summary>
/// The workloads of the mesh, fed by discovery streams: a stream registers its node once the proxy ACKs a config, one that
/// closes lets it go after a grace period so a quick reconnect causes no endpoint churn. Each change
/// publishes a new immutable <see cref="RegistrySnapshot"/> with a higher generation.
/// </summary>
public sealed partial class WorkloadRegistry : IDisposable
{
    private readonly Lock _gate = new();
    private readonly Lock _fileGate = new();
    private readonly TimeProvider _time;
    private readonly RegistryOptions _options;
    private readonly ILogger _logger;
    private readonly RegistryFile? _file;
    private readonly Dictionary<string, int> _openStreams = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ITimer> _pendingRemovals = new(StringComparer.Ordinal);
    private ITimer? _restoreExpiry;
    private RegistrySnapshot _current = RegistrySnapshot.Empty;
    private long _persistedGeneration = -1;
    private bool _disposed;

    public WorkloadRegistry(RegistryOptions? options = null, TimeProvider? time = null, ILogger<WorkloadRegistry>? logger = null)
    {
        _options = options ?? new RegistryOptions();
        _time = time ?? TimeProvider.System;
        _logger = logger ?? (ILogger)NullLogger.Instance;
        if (_options.DataDir is { } dir)
        {
            _file = new RegistryFile(System.IO.Path.Combine(dir, RegistryFile.FileName));
            Restore(_file);
        }
    }

    public RegistrySnapshot Current => Volatile.Read(ref _current);

    /// <summary>Raised after every change, outside any lock; the argument is the new snapshot.</summary>
    public event Action<RegistrySnapshot>? Changed;

    /// <summary>
    /// Registers (or confirms) the node's workload for as long as the returned lease is not disposed.
    /// Throws <see cref="WorkloadConflictException"/> when <see cref="ConflictFor"/> names a conflict.
    /// </summary>
    public IDisposable Connect(Node node)
    {
        ArgumentNullException.ThrowIfNull(node);
        var workload = Workload.FromNode(node);
        RegistrySnapshot? changed = null;
        lock (_gate)
        {
            if (Conflict(workload) is { } conflict)
                throw new WorkloadConflictException(conflict);
            _openStreams[workload.InstanceId] = _openStreams.GetValueOrDefault(workload.InstanceId) + 1;
            if (_pendingRemovals.Remove(workload.InstanceId, out var timer)) timer.Dispose();
            if (!_current.Workloads.TryGetValue(workload.InstanceId, out var known) || known != workload)
                changed = Publish(_current.Workloads.SetItem(workload.InstanceId, workload));
        }
        if (changed is not null)
        {
            Log.Registered(_logger, workload.InstanceId, workload.Service, workload.Address, workload.InboundPort);
            Announce(changed);
        }
        return new Lease(this, workload.InstanceId);
    }

    /// <summary>
    /// Why <paramref name="node"/> may not register now, or null. An instance id belongs to its service
    /// for as long as the registry holds it (live, in its grace period, or restored from disk), and a
    /// live instance (its stream open) keeps its address, port and role: a second proxy with the same
    /// service account can neither move another service's instance nor take a running one's place.
    /// </summary>
    public string? ConflictFor(Node node)
    {
        ArgumentNullException.ThrowIfNull(node);
        var workload = Workload.FromNode(node);
        lock (_gate)
            return Conflict(workload);
    }

    // Caller holds _gate.
    private string? Conflict(Workload workload)
    {
        if (!_current.Workloads.TryGetValue(workload.InstanceId, out var known)) return null;
        if (known.Namespace != workload.Namespace || known.Service != workload.Service)
            return $"instance {workload.InstanceId} belongs to service {known.Namespace}/{known.Service}; choose another instance id";
        if (_openStreams.GetValueOrDefault(workload.InstanceId) > 0
            && (known.Address != workload.Address || known.InboundPort != workload.InboundPort || known.Role != workload.Role))
            return $"instance {workload.InstanceId} is live at {known.Address}:{known.InboundPort} ({known.Role}); another proxy cannot take its place while its stream is open";
        return null;
    }

    /// <summary>
    /// Leaves the endpoints of <paramref name="instances"/> out of every cluster from now on (and brings
    /// back those no longer named): what launchers drain for a graceful restart or stop. Not persisted:
    /// launchers say it again in every report.
    /// </summary>
    public void SetDraining(IEnumerable<string> instances)
    {
        var draining = ImmutableSortedSet.CreateRange(StringComparer.Ordinal, instances);
        RegistrySnapshot? changed = null;
        lock (_gate)
        {
            if (!draining.SetEquals(_current.Draining))
                changed = Publish(_current.Workloads, draining);
        }
        if (changed is not null)
        {
            Log.Draining(_logger, changed.Draining.Count == 0 ? "none" : string.Join(", ", changed.Draining));
            Announce(changed);
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            foreach (var timer in _pendingRemovals.Values) timer.Dispose();
            _pendingRemovals.Clear();
            _restoreExpiry?.Dispose();
            _restoreExpiry = null;
        }
    }

    private void Disconnect(string instanceId)
    {
        lock (_gate)
        {
            var open = _openStreams.GetValueOrDefault(instanceId) - 1;
            if (open > 0)
            {
                _openStreams[instanceId] = open;
                return;
            }
            _openStreams.Remove(instanceId);
            if (_disposed) return;
            // The callback takes _gate, which we hold, so it cannot look for its timer before it is stored.
            var ticket = new RemovalTicket(this, instanceId);
            ticket.Timer = _time.CreateTimer(static s => ((RemovalTicket)s!).Fire(), ticket, _options.DisconnectGrace, Timeout.InfiniteTimeSpan);
            _pendingRemovals[instanceId] = ticket.Timer;
        }
    }

    private void RemoveAfterGrace(RemovalTicket ticket)
    {
        RegistrySnapshot? changed = null;
        lock (_gate)
        {
            // A reconnect (or a newer disconnect) replaced this ticket's timer: it is no longer ours to act on.
            if (!_pendingRemovals.TryGetValue(ticket.InstanceId, out var timer) || !ReferenceEquals(timer, ticket.Timer)) return;
            _pendingRemovals.Remove(ticket.InstanceId);
            timer.Dispose();
            if (_current.Workloads.ContainsKey(ticket.InstanceId))
                changed = Publish(_current.Workloads.Remove(ticket.InstanceId));
        }
        if (changed is not null)
        {
            Log.Removed(_logger, ticket.InstanceId);
            Announce(changed);
        }
    }

    private void Restore(RegistryFile file)
    {
        IReadOnlyList<Workload> restored;
        try
        {
            restored = file.Load();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Text.Json.JsonException)
        {
            Log.RestoreFailed(_logger, file.Path, e);
            return;
        }
        if (restored.Count == 0) return;
        var builder = ImmutableSortedDictionary.CreateBuilder<string, Workload>(StringComparer.Ordinal);
        foreach (var w in restored) builder[w.InstanceId] = w;
        lock (_gate)
        {
            _current = new RegistrySnapshot(1, builder.ToImmutable());
            _restoreExpiry = _time.CreateTimer(static s => ((WorkloadRegistry)s!).ExpireUnconfirmed(), this, _options.RestoreGrace, Timeout.InfiniteTimeSpan);
        }
        Log.Restored(_logger, restored.Count, _options.RestoreGrace.TotalSeconds);
    }

    private void ExpireUnconfirmed()
    {
        RegistrySnapshot? changed = null;
        var expired = 0;
        lock (_gate)
        {
            _restoreExpiry?.Dispose();
            _restoreExpiry = null;
            var next = _current.Workloads;
            foreach (var (id, w) in _current.Workloads)
            {
                if (w.Confirmed) continue;
                next = next.Remove(id);
                expired++;
            }
            if (expired > 0) changed = Publish(next);
        }
        if (changed is not null)
        {
            Log.UnconfirmedExpired(_logger, expired);
            Announce(changed);
        }
    }

    // Caller holds _gate.
    private RegistrySnapshot Publish(ImmutableSortedDictionary<string, Workload> workloads, ImmutableSortedSet<string>? draining = null)
    {
        var next = new RegistrySnapshot(_current.Generation + 1, workloads) { Draining = draining ?? _current.Draining };
        Volatile.Write(ref _current, next);
        return next;
    }

    private void Announce(RegistrySnapshot snapshot)
    {
        Persist(snapshot);
        Changed?.Invoke(snapshot);
    }

    private void Persist(RegistrySnapshot snapshot)
    {
        if (_file is null) return;
        lock (_fileGate)
        {
            // Announcements can overtake each other between threads; never let an older one overwrite a newer file.
            if (snapshot.Generation <= _persistedGeneration) return;
            try
            {
                _file.Save(snapshot);
                _persistedGeneration = snapshot.Generation;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Log.PersistFailed(_logger, _file.Path, e);
            }
        }
    }

    private sealed class RemovalTicket(WorkloadRegistry registry, string instanceId)
    {
        public string InstanceId { get; } = instanceId;
        public ITimer? Timer { get; set; }
        public void Fire() => registry.RemoveAfterGrace(this);
    }

    private sealed class Lease(WorkloadRegistry registry, string instanceId) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0) registry.Disconnect(instanceId);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 100, Level = LogLevel.Information, Message = "Workload {InstanceId} of {Service} registered at {Address}:{Port}")]
        public static partial void Registered(ILogger logger, string instanceId, string service, string address, uint port);

        [LoggerMessage(EventId = 101, Level = LogLevel.Information, Message = "Workload {InstanceId} removed: its proxy stayed away past the grace period")]
        public static partial void Removed(ILogger logger, string instanceId);

        [LoggerMessage(EventId = 102, Level = LogLevel.Information, Message = "Restored {Count} workloads from the last run; unconfirmed ones leave in {Seconds} s")]
        public static partial void Restored(ILogger logger, int count, double seconds);

        [LoggerMessage(EventId = 103, Level = LogLevel.Information, Message = "{Count} restored workloads removed: their proxies did not reconnect")]
        public static partial void UnconfirmedExpired(ILogger logger, int count);

        [LoggerMessage(EventId = 104, Level = LogLevel.Warning, Message = "Could not read {Path}; starting with an empty registry")]
        public static partial void RestoreFailed(ILogger logger, string path, Exception exception);

        [LoggerMessage(EventId = 105, Level = LogLevel.Warning, Message = "Could not write {Path}; a restart will not know the current workloads")]
        public static partial void PersistFailed(ILogger logger, string path, Exception exception);

        [LoggerMessage(EventId = 106, Level = LogLevel.Information, Message = "Draining (endpoints left out of every cluster): {Instances}")]
        public static partial void Draining(ILogger logger, string instances);
    }
}
