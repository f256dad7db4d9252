using System.Threading.Channels;
using Weft.Protocol.Grpc;
using ServingStatus = Weft.Protocol.Health.HealthCheckResponse.Types.ServingStatus;

namespace Weft.Protocol.Health;

/// <summary>
/// The standard gRPC health service (grpc/doc/health-checking.md). The service name "" stands for the
/// whole server and starts SERVING; other names are unknown until <see cref="SetStatus"/> names them.
/// </summary>
public sealed class HealthService
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, ServingStatus> _statuses = new(StringComparer.Ordinal) { [""] = ServingStatus.Serving };
    private readonly Dictionary<string, List<ChannelWriter<ServingStatus>>> _watchers = new(StringComparer.Ordinal);

    /// <summary>Serves Check and Watch on <paramref name="server"/>.</summary>
    public void Register(GrpcServer server)
    {
        ArgumentNullException.ThrowIfNull(server);
        server.AddUnary(HealthMethods.Check, CheckAsync);
        server.AddServerStreaming(HealthMethods.Watch, WatchAsync);
    }

    /// <summary>Records a service's status and tells every Watch of it.</summary>
    public void SetStatus(string service, ServingStatus status)
    {
        ArgumentNullException.ThrowIfNull(service);
        lock (_gate)
        {
            _statuses[service] = status;
            if (_watchers.TryGetValue(service, out List<ChannelWriter<ServingStatus>>? watchers))
            {
                foreach (ChannelWriter<ServingStatus> watcher in watchers)
                {
                    watcher.TryWrite(status);
                }
            }
        }
    }

    /// <summary>Forgets a service: Check answers NOT_FOUND and watchers see SERVICE_UNKNOWN.</summary>
    public void ClearStatus(string service)
    {
        ArgumentNullException.ThrowIfNull(service);
        lock (_gate)
        {
            _statuses.Remove(service);
            if (_watchers.TryGetValue(service, out List<ChannelWriter<ServingStatus>>? watchers))
            {
                foreach (ChannelWriter<ServingStatus> watcher in watchers)
                {
                    watcher.TryWrite(ServingStatus.ServiceUnknown);
                }
            }
        }
    }

    private Task<HealthCheckResponse> CheckAsync(HealthCheckRequest request, IServerCallContext context)
    {
        lock (_gate)
        {
            if (_statuses.TryGetValue(request.Service, out ServingStatus status))
            {
                return Task.FromResult(new HealthCheckResponse { Status = status });
            }
        }
        throw new RpcException(StatusCode.NotFound, "Unknown service: " + request.Service);
    }

    private async Task WatchAsync(HealthCheckRequest request, IMessageWriter<HealthCheckResponse> responses, IServerCallContext context)
    {
        // Capacity one, newest wins: a slow watcher skips intermediate states but always ends on the latest,
        // which the spec allows.
        Channel<ServingStatus> updates = Channel.CreateBounded<ServingStatus>(
            new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true, SingleWriter = false });
        ServingStatus current;
        lock (_gate)
        {
            current = _statuses.TryGetValue(request.Service, out ServingStatus known) ? known : ServingStatus.ServiceUnknown;
            if (!_watchers.TryGetValue(request.Service, out List<ChannelWriter<ServingStatus>>? list))
            {
                list = [];
                _watchers[request.Service] = list;
            }
            list.Add(updates.Writer);
        }
        try
        {
            await responses.WriteAsync(new HealthCheckResponse { Status = current }, context.CancellationToken).ConfigureAwait(false);
            while (true)
            {
                ServingStatus next = await updates.Reader.ReadAsync(context.CancellationToken).ConfigureAwait(false);
                if (next != current)
                {
                    current = next;
                    await responses.WriteAsync(new HealthCheckResponse { Status = current }, context.CancellationToken).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            lock (_gate)
            {
                if (_watchers.TryGetValue(request.Service, out List<ChannelWriter<ServingStatus>>? list))
                {
                    list.Remove(updates.Writer);
                    if (list.Count == 0)
                    {
                        _watchers.Remove(request.Service);
                    }
                }
            }
        }
    }
}
