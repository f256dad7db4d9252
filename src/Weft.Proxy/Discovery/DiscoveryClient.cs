using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Weft.Protocol.Discovery;
using Weft.Protocol.Grpc;
using Weft.Proxy.Config;

namespace Weft.Proxy.Discovery;

/// <summary>
/// The proxy's end of weft.discovery.v1.Discovery/Stream (discovery.proto): keeps one stream open to the
/// control plane for as long as the proxy runs, turns every response into a whole config for the sink,
/// and answers it with an ACK or a NACK. Losing the stream never clears the config: the proxy keeps
/// serving the last good one while it reconnects with jittered backoff.
/// </summary>
public sealed class DiscoveryClient : IDisposable
{
    private const int InvalidArgument = 3;   // google.rpc.Code, per discovery.proto for a rejected config

    private readonly Func<CancellationToken, IStreamingCall<DiscoveryRequest, DiscoveryResponse>> _openStream;
    private readonly Node _node;
    private readonly IProxyConfigSink _sink;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ReconnectBackoff _backoff;
    private readonly IDisposable? _ownedChannel;
    private ProxyResources _applied = ProxyResources.Empty;   // only the run loop writes it
    private DiscoveryClientState _state = DiscoveryClientState.Initial;
    private bool _streamWasHealthy;

    /// <param name="openStream">Opens one Discovery/Stream call; injectable so tests run over in-memory streams.</param>
    public DiscoveryClient(
        Func<CancellationToken, IStreamingCall<DiscoveryRequest, DiscoveryResponse>> openStream,
        Node node,
        IProxyConfigSink sink,
        DiscoveryClientOptions? options = null,
        TimeProvider? time = null,
        ILogger<DiscoveryClient>? logger = null)
        : this(openStream, node, sink, options, time, logger, ownedChannel: null)
    {
    }

    private DiscoveryClient(
        Func<CancellationToken, IStreamingCall<DiscoveryRequest, DiscoveryResponse>> openStream,
        Node node, IProxyConfigSink sink, DiscoveryClientOptions? options, TimeProvider? time, ILogger? logger,
        IDisposable? ownedChannel)
    {
        ArgumentNullException.ThrowIfNull(openStream);
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(sink);
        options ??= new DiscoveryClientOptions();
        _openStream = openStream;
        _node = node;
        _sink = sink;
        _time = time ?? TimeProvider.System;
        _logger = logger ?? NullLogger.Instance;
        _backoff = new ReconnectBackoff(options.InitialBackoff, options.MaxBackoff, options.Random ?? Random.Shared.NextDouble);
        _ownedChannel = ownedChannel;
    }

    /// <summary>A client over <paramref name="channel"/> to the control plane (which it then owns).</summary>
    /// <param name="credentials">The metadata that proves the proxy's service account, asked for at every (re)connect.</param>
    public static DiscoveryClient ForControlPlane(
        GrpcChannel channel, Node node, IProxyConfigSink sink, Func<IReadOnlyDictionary<string, string>> credentials,
        DiscoveryClientOptions? options = null, TimeProvider? time = null, ILogger<DiscoveryClient>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(channel);
        ArgumentNullException.ThrowIfNull(credentials);
        return new DiscoveryClient(
            ct => channel.DuplexStreaming(DiscoveryMethods.Stream, new CallOptions(CancellationToken: ct, Headers: credentials())),
            node, sink, options, time, logger, channel);
    }

    public DiscoveryClientState State => Volatile.Read(ref _state);

    /// <summary>The config last applied (what the proxy serves), kept across reconnects.</summary>
    public ProxyResources Applied => Volatile.Read(ref _applied);

    /// <summary>Runs until <paramref name="cancellationToken"/> fires; stream failures only cause reconnects.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            string error;
            _streamWasHealthy = false;
            try
            {
                await RunStreamAsync(cancellationToken).ConfigureAwait(false);
                error = "closed by the control plane";
            }
            catch (Exception) when (cancellationToken.IsCancellationRequested)
            {
                // Stopping: the call ends as canceled (an RpcException, not always an
                // OperationCanceledException), which is no lost stream to warn about.
                break;
            }
            catch (Exception e)
            {
                error = e.Message;
            }

            // A stream that delivered config was healthy: the next failure is a fresh one, not the next in a row.
            if (_streamWasHealthy) _backoff.Reset();
            var delay = _backoff.Next();
            UpdateState(s => s with { Connected = false, ConnectedSince = null, LastError = error, Reconnects = s.Reconnects + 1 });
            DiscoveryClientLog.Reconnecting(_logger, error, delay.TotalMilliseconds);
            try
            {
                await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                break;
            }
        }
        UpdateState(s => s with { Connected = false, ConnectedSince = null });
    }

    public void Dispose() => _ownedChannel?.Dispose();

    private async Task RunStreamAsync(CancellationToken cancellationToken)
    {
        var call = _openStream(cancellationToken);
        await using (call.ConfigureAwait(false))
        {
            await call.RequestStream.WriteAsync(new DiscoveryRequest { Node = _node }, cancellationToken).ConfigureAwait(false);
            while (await call.ResponseStream.ReadAsync(cancellationToken).ConfigureAwait(false) is { } response)
            {
                if (!_streamWasHealthy)
                {
                    _streamWasHealthy = true;
                    var now = _time.GetUtcNow();
                    UpdateState(s => s with { Connected = true, ConnectedSince = now, LastError = null });
                    DiscoveryClientLog.Connected(_logger, _node.Id);
                }
                var answer = await ApplyAsync(response, cancellationToken).ConfigureAwait(false);
                await call.RequestStream.WriteAsync(answer, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Builds the whole next config from the response, offers it to the sink, and says what to answer.</summary>
    private async Task<DiscoveryRequest> ApplyAsync(DiscoveryResponse response, CancellationToken cancellationToken)
    {
        var next = new ProxyResources(response.ConfigRevision, response.VersionInfo, Merge(_applied.Items, response));
        string? reason;
        try
        {
            reason = await _sink.ApplyAsync(next, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // A sink that throws has not taken the config: that is a rejection, not a reason to drop the stream.
            reason = "applying the config failed: " + e.Message;
        }

        var now = _time.GetUtcNow();
        if (reason is null)
        {
            Volatile.Write(ref _applied, next);
            UpdateState(s => s with { AppliedRevision = next.ConfigRevision, AppliedVersion = next.VersionInfo, AppliedAt = now });
            DiscoveryClientLog.Applied(_logger, next.VersionInfo, next.ConfigRevision, next.Items.Count);
            return new DiscoveryRequest { VersionInfo = response.VersionInfo, ResponseNonce = response.Nonce };
        }

        UpdateState(s => s with { LastNackVersion = response.VersionInfo, LastNackReason = reason, LastNackAt = now });
        DiscoveryClientLog.Rejected(_logger, response.VersionInfo, response.ConfigRevision, _applied.VersionInfo, reason);
        return new DiscoveryRequest
        {
            VersionInfo = _applied.VersionInfo,
            ResponseNonce = response.Nonce,
            ErrorDetail = new ErrorDetail { Code = InvalidArgument, Message = reason },
        };
    }

    /// <summary>A full state replaces everything; otherwise last good + changed - removed.</summary>
    internal static ImmutableDictionary<string, Resource> Merge(ImmutableDictionary<string, Resource> lastGood, DiscoveryResponse response)
    {
        var items = response.FullState ? ImmutableDictionary.CreateBuilder<string, Resource>(StringComparer.Ordinal) : lastGood.ToBuilder();
        foreach (var resource in response.Resources) items[ResourceKeys.Of(resource)] = resource;
        foreach (var key in response.RemovedResources) items.Remove(key);
        return items.ToImmutable();
    }

    private void UpdateState(Func<DiscoveryClientState, DiscoveryClientState> change) =>
        Volatile.Write(ref _state, change(Volatile.Read(ref _state)));
}
