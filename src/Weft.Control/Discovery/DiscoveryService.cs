using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Weft.Control.Registry;
using Weft.Protocol.Discovery;
using Weft.Protocol.Grpc;

namespace Weft.Control.Discovery;

/// <summary>
/// The control plane's end of weft.discovery.v1.Discovery/Stream: sends each proxy its state, registers its
/// workload once it ACKs, and keeps it in step with <see cref="IProxySnapshotSource"/> under the rules of discovery.proto.
/// </summary>
public sealed class DiscoveryService
{
    private readonly Dependencies _deps;
    private long _streams;

    private readonly INodeAdmission _admission;

    /// <param name="admission">Who may open a stream as which node: <see cref="NodeAdmission"/> in the control plane.</param>
    public DiscoveryService(
        IProxySnapshotSource snapshots,
        WorkloadRegistry registry,
        INodeAdmission admission,
        DiscoveryOptions? options = null,
        TimeProvider? time = null,
        ILogger<DiscoveryService>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(snapshots);
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(admission);
        _admission = admission;
        options ??= new DiscoveryOptions();
        time ??= TimeProvider.System;
        Status = new ProxyStatusBoard(time, options.DisconnectedRetention);
        _deps = new Dependencies(snapshots, registry, Status, Metrics, options, time, logger ?? (ILogger)NullLogger.Instance);
    }

    /// <summary>Per-proxy sync records (`weft status`).</summary>
    public ProxyStatusBoard Status { get; }

    public DiscoveryMetrics Metrics { get; } = new();

    /// <summary>Test seam: raised by a stream's loop after it handled an event ("request" or "change").</summary>
    internal event Action<string, string>? Processed
    {
        add => _deps.Processed += value;
        remove => _deps.Processed -= value;
    }

    public void Register(GrpcServer server)
    {
        ArgumentNullException.ThrowIfNull(server);
        server.AddDuplexStreaming(DiscoveryMethods.Stream, HandleStreamAsync);
    }

    public async Task HandleStreamAsync(IMessageReader<DiscoveryRequest> requests, IMessageWriter<DiscoveryResponse> responses, IServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(requests);
        ArgumentNullException.ThrowIfNull(responses);
        ArgumentNullException.ThrowIfNull(context);
        var first = await requests.ReadAsync(context.CancellationToken).ConfigureAwait(false);
        if (first is null) return;
        if (first.Node is null || first.Node.Id.Length == 0)
            throw new RpcException(StatusCode.InvalidArgument, "the first request of a discovery stream must carry node with an id");
        try
        {
            _admission.Admit(first.Node, context);
            if (_deps.Registry.ConflictFor(first.Node) is { } conflict)
                throw new RpcException(StatusCode.PermissionDenied, conflict);
        }
        catch (RpcException e)
        {
            DiscoveryLog.Refused(_deps.Logger, first.Node.Id, context.Peer, e.Status.Detail);
            _deps.Metrics.Refused(e.StatusCode == StatusCode.Unauthenticated);
            throw;
        }
        var stream = new DiscoveryStream(_deps, first.Node, Interlocked.Increment(ref _streams), requests, responses, context.CancellationToken);
        try
        {
            await stream.RunAsync(context.Peer).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException && context.CancellationToken.IsCancellationRequested)
        {
            // The proxy went away (a stopping sidecar resets its call: Kestrel's body read throws
            // IOException) or the server is stopping: an ordinary end of a stream, not a warning.
        }
        catch (Exception e) when (e is not RpcException)
        {
            DiscoveryLog.StreamFailed(_deps.Logger, first.Node.Id, e);
            throw;
        }
    }

    /// <summary>What every stream shares; one object so a stream's constructor stays short.</summary>
    internal sealed class Dependencies(
        IProxySnapshotSource snapshots, WorkloadRegistry registry, ProxyStatusBoard board, DiscoveryMetrics metrics,
        DiscoveryOptions options, TimeProvider time, ILogger logger)
    {
        public IProxySnapshotSource Snapshots { get; } = snapshots;
        public WorkloadRegistry Registry { get; } = registry;
        public ProxyStatusBoard Board { get; } = board;
        public DiscoveryMetrics Metrics { get; } = metrics;
        public DiscoveryOptions Options { get; } = options;
        public TimeProvider Time { get; } = time;
        public ILogger Logger { get; } = logger;
        public Action<string, string>? Processed { get; set; }
    }
}
