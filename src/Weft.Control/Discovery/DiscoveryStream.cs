using System.Collections.Immutable;
using System.Globalization;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Weft.Control.Registry;
using Weft.Protocol.Discovery;
using Weft.Protocol.Grpc;

namespace Weft.Control.Discovery;

/// <summary>
/// One proxy's stream, run as a single loop over its events (a request arrived, the snapshot changed) so
/// the state needs no locks and responses have a single writer. The rules of what may be sent live in
/// <see cref="AckTracker"/>; this class decides what to send and keeps the status record current.
/// </summary>
internal sealed class DiscoveryStream
{
    private static long s_nonces;
    private static long s_versions;

    private readonly DiscoveryService.Dependencies _deps;
    private readonly Node _node;
    private readonly long _streamId;
    private readonly IMessageReader<DiscoveryRequest> _requests;
    private readonly IMessageWriter<DiscoveryResponse> _responses;
    private readonly CancellationToken _cancellation;
    private readonly AckTracker _acks = new();
    private readonly Channel<DiscoveryRequest?> _events = Channel.CreateUnbounded<DiscoveryRequest?>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Lock _debounceGate = new();
    private ITimer? _debounce;
    private DateTimeOffset? _changeNoticedAt;   // guarded by _debounceGate: set by change events, taken by the loop
    private DateTimeOffset? _unsentChangeAt;    // loop only: the oldest change not yet carried by a response
    private ProxySnapshot _desired = ProxySnapshot.Empty;
    private string _lastNackReason = "";
    private IDisposable? _lease;   // the registry entry, held from the first ACK until the stream ends

    public DiscoveryStream(DiscoveryService.Dependencies deps, Node node, long streamId,
        IMessageReader<DiscoveryRequest> requests, IMessageWriter<DiscoveryResponse> responses, CancellationToken cancellation)
    {
        _deps = deps;
        _node = node;
        _streamId = streamId;
        _requests = requests;
        _responses = responses;
        _cancellation = cancellation;
    }

    public async Task RunAsync(string peer)
    {
        var now = _deps.Time.GetUtcNow();
        var workload = Workload.FromNode(_node);
        _deps.Board.Open(_streamId, new ProxyStatus(_node.Id, workload.Service, workload.Version, workload.Namespace,
            workload.Role, workload.Address, _node.AdminUrl, Connected: true, now,
            0, null, 0, null, 0, null, null, ProxyStatusBoard.Stale));
        _deps.Metrics.StreamOpened();
        DiscoveryLog.Connected(_deps.Logger, _node.Id, _node.Service, peer);
        // Subscribe before the first build so no change can fall between it and the subscription.
        _deps.Snapshots.Changed += OnSnapshotChanged;
        try
        {
            var pump = PumpRequestsAsync();
            _desired = _deps.Snapshots.Build(_node);
            await SendAsync(ResourceDiff.Between(ImmutableDictionary<string, Resource>.Empty, _desired.Resources), full: true).ConfigureAwait(false);
            // A null event is "the snapshot changed"; requests are never null (the pump stops at end of stream).
            await foreach (var request in _events.Reader.ReadAllAsync(_cancellation).ConfigureAwait(false))
            {
                if (request is null) await OnSnapshotChangedAsync().ConfigureAwait(false);
                else await OnRequestAsync(request).ConfigureAwait(false);
                _deps.Processed?.Invoke(_node.Id, request is null ? "change" : "request");
            }
            await pump.ConfigureAwait(false);
        }
        finally
        {
            _deps.Snapshots.Changed -= OnSnapshotChanged;
            lock (_debounceGate)
            {
                _debounce?.Dispose();
                _debounce = null;
            }
            _lease?.Dispose();
            _deps.Board.Close(_streamId, _node.Id);
            _deps.Metrics.StreamClosed();
            DiscoveryLog.Disconnected(_deps.Logger, _node.Id);
        }
    }

    private async Task PumpRequestsAsync()
    {
        try
        {
            while (await _requests.ReadAsync(_cancellation).ConfigureAwait(false) is { } request)
                _events.Writer.TryWrite(request);
            _events.Writer.TryComplete();
        }
        catch (Exception e)
        {
            _events.Writer.TryComplete(e);
        }
    }

    private static readonly string TrustBundleKey = ResourceKeys.TrustBundle + "/" + ResourceKeys.TrustBundleName;

    private void OnSnapshotChanged()
    {
        lock (_debounceGate)
        {
            _changeNoticedAt ??= _deps.Time.GetUtcNow();
            _debounce ??= _deps.Time.CreateTimer(static s => ((DiscoveryStream)s!).OnDebounceElapsed(), this, _deps.Options.Debounce, Timeout.InfiniteTimeSpan);
        }
    }

    private void OnDebounceElapsed()
    {
        lock (_debounceGate)
        {
            _debounce?.Dispose();
            _debounce = null;
        }
        _events.Writer.TryWrite(null);
    }

    private async Task OnSnapshotChangedAsync()
    {
        lock (_debounceGate)
        {
            _unsentChangeAt ??= _changeNoticedAt;
            _changeNoticedAt = null;
        }
        _desired = _deps.Snapshots.Build(_node);
        await TryPushAsync().ConfigureAwait(false);
    }

    private async Task OnRequestAsync(DiscoveryRequest request)
    {
        var (outcome, state) = _acks.Receive(request);
        var now = _deps.Time.GetUtcNow();
        switch (outcome)
        {
            case AckOutcome.Stale:
                DiscoveryLog.StaleNonce(_deps.Logger, _node.Id, request.ResponseNonce);
                return;
            case AckOutcome.Ack:
                DiscoveryLog.Acked(_deps.Logger, _node.Id, state!.VersionInfo, state.ConfigRevision);
                if (state.ChangeSeenAt is { } seen) _deps.Metrics.Converged(now - seen);
                // An endpoint only once its proxy has applied a config: the proxy ACKs after its listeners
                // are bound, so no peer is sent to a port that is not listening yet.
                try
                {
                    _lease ??= _deps.Registry.Connect(_node);
                }
                catch (WorkloadConflictException e)
                {
                    // Another stream took the instance between this one's admission and its first ACK.
                    DiscoveryLog.Refused(_deps.Logger, _node.Id, "", e.Message);
                    _deps.Metrics.Refused(unauthenticated: false);
                    throw new RpcException(StatusCode.PermissionDenied, e.Message);
                }
                var bundle = Ca.TrustBundleSource.GenerationOf(state.Resources.GetValueOrDefault(TrustBundleKey));
                _deps.Board.Update(_streamId, _node.Id, s => s with { RevisionAcked = state.ConfigRevision, AckedAt = now, TrustBundleGeneration = bundle });
                break;
            case AckOutcome.Nack:
                var reason = request.ErrorDetail.Message.Length == 0 ? "rejected" : request.ErrorDetail.Message;
                DiscoveryLog.Nacked(_deps.Logger, _node.Id, state!.VersionInfo, state.ConfigRevision, reason);
                _deps.Metrics.Rejected(reason);
                _lastNackReason = reason;
                _deps.Board.Update(_streamId, _node.Id, s => s with { RevisionNacked = state.ConfigRevision, NackReason = reason, NackedAt = now });
                break;
        }
        await TryPushAsync().ConfigureAwait(false);
    }

    private async Task TryPushAsync()
    {
        if (!_acks.CanSend)
        {
            // The answer to the outstanding response triggers the next push.
            PublishSyncState();
            return;
        }
        if (_acks.Acked is not { } acked)
        {
            // Nothing applied on this stream yet: the proxy may still hold a previous stream's config,
            // so only a full state is safe to send.
            if (!_acks.WasRefused(_desired.Resources))
                await SendAsync(ResourceDiff.Between(ImmutableDictionary<string, Resource>.Empty, _desired.Resources), full: true).ConfigureAwait(false);
            PublishSyncState();
            return;
        }
        var diff = ResourceDiff.Between(acked.Resources, _desired.Resources);
        if (diff.IsEmpty)
        {
            // The change did not touch this proxy: it is in sync at the new revision (weft apply --wait relies on it).
            _unsentChangeAt = null;
            if (acked.ConfigRevision != _desired.ConfigRevision)
            {
                _acks.AdvanceWithoutChange(_desired.ConfigRevision);
                var now = _deps.Time.GetUtcNow();
                _deps.Board.Update(_streamId, _node.Id, s => s with { RevisionAcked = _desired.ConfigRevision, AckedAt = now });
            }
        }
        else if (!_acks.WasRefused(_desired.Resources))
        {
            await SendAsync(diff, full: false).ConfigureAwait(false);
        }
        PublishSyncState();
    }

    private async Task SendAsync(ResourceDiff diff, bool full)
    {
        var now = _deps.Time.GetUtcNow();
        var response = new DiscoveryResponse
        {
            VersionInfo = string.Create(CultureInfo.InvariantCulture, $"{_desired.ConfigRevision}.{Interlocked.Increment(ref s_versions)}"),
            Nonce = Interlocked.Increment(ref s_nonces).ToString("x", CultureInfo.InvariantCulture),
            ConfigRevision = _desired.ConfigRevision,
            FullState = full,
        };
        response.Resources.AddRange(diff.Changed);
        response.RemovedResources.AddRange(diff.Removed);
        _acks.Sent(new SentState(response.Nonce, response.VersionInfo, _desired.ConfigRevision, _desired.Resources, now, _unsentChangeAt));
        _unsentChangeAt = null;
        var revision = _desired.ConfigRevision;
        _deps.Board.Update(_streamId, _node.Id, s => s with { RevisionSent = revision, SentAt = now });
        PublishSyncState();
        await _responses.WriteAsync(response, _cancellation).ConfigureAwait(false);
        _deps.Metrics.Pushed();
        DiscoveryLog.Sent(_deps.Logger, _node.Id, response.VersionInfo, revision, full, diff.Changed.Count, diff.Removed.Count);
    }

    private void PublishSyncState()
    {
        string state;
        if (!_acks.CanSend) state = ProxyStatusBoard.Stale;
        else if (_acks.WasRefused(_desired.Resources)) state = ProxyStatusBoard.Nacked(_lastNackReason);
        else if (_acks.Acked is { } acked && ResourceDiff.SameState(acked.Resources, _desired.Resources)) state = ProxyStatusBoard.Synced;
        else state = ProxyStatusBoard.Stale;
        _deps.Board.Update(_streamId, _node.Id, s => s with { SyncState = state });
    }
}
