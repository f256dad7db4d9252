using Microsoft.Extensions.Logging;
using Weft.Proxy.Listeners;
using Weft.Proxy.Telemetry;

namespace Weft.Proxy.Config;

/// <summary>
/// The IProxyConfigSink: validate and compile the whole config, open its new listeners, publish the
/// runtime in one reference swap, then retire removed listeners. Any failure before the swap leaves
/// the previous config serving untouched. Applies are serialized (cold path; a lock is fine here).
/// </summary>
internal sealed class ConfigApplier : IProxyConfigSink
{
    private readonly SemaphoreSlim _applyLock = new(1, 1);
    private readonly RuntimeBuilder _builder = new();
    private readonly RuntimeState _state;
    private readonly ListenerSet _listeners;
    private readonly ProxyMetrics _metrics;
    private readonly Upstream.UpstreamPools _pools;
    private readonly ILogger _logger;
    private bool _stopped;

    private readonly Security.CertificateHolder? _certificates;

    /// <param name="certificates">Takes the trust bundle of every config published.</param>
    public ConfigApplier(RuntimeState state, ListenerSet listeners, ProxyMetrics metrics, Upstream.UpstreamPools pools, ILogger logger,
        Security.CertificateHolder? certificates = null)
    {
        _certificates = certificates;
        _state = state;
        _listeners = listeners;
        _metrics = metrics;
        _pools = pools;
        _logger = logger;
    }

    public async ValueTask<string?> ApplyAsync(ProxyResources next, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(next);
        await _applyLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_stopped)
                return "the proxy is shutting down";
            var result = _builder.Build(next, _state.Current);
            if (result.Runtime is null)
                return Reject(next, string.Join("; ", result.Errors));
            foreach (var warning in result.Warnings)
                Log.ConfigWarning(_logger, warning);

            var bindError = await _listeners.OpenAsync(result.Runtime, cancellationToken).ConfigureAwait(false);
            if (bindError is not null)
                return Reject(next, bindError);

            _state.Publish(result.Runtime);
            if (result.Runtime.TrustBundle is { } bundle)
                _certificates?.SetBundle(bundle);
            _metrics.ConfigRevision = next.ConfigRevision;
            _listeners.Commit(result.Runtime);
            _builder.ForgetEndpointsNotIn(result.Runtime);
            _pools.ForgetEndpointsNotIn(result.Runtime);
            Log.ConfigApplied(_logger, next.ConfigRevision, next.VersionInfo, result.Runtime.ListenersByPort.Count, result.Runtime.Clusters.Count);
            return null;
        }
        finally
        {
            _applyLock.Release();
        }
    }

    /// <summary>Stops accepting configs and closes every listener (host shutdown).</summary>
    public async Task StopAsync(TimeSpan drainTimeout)
    {
        await _applyLock.WaitAsync().ConfigureAwait(false);
        try
        {
            _stopped = true;
            await _listeners.StopAllAsync(drainTimeout).ConfigureAwait(false);
        }
        finally
        {
            _applyLock.Release();
        }
    }

    private string Reject(ProxyResources next, string reason)
    {
        Log.ConfigRejected(_logger, next.ConfigRevision, next.VersionInfo, reason);
        return reason;
    }
}
