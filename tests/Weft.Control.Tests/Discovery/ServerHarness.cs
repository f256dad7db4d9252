using Weft.Control.Discovery;
using Weft.Control.Registry;
using Weft.Protocol.Discovery;
using Weft.Tests.Fakes;

namespace Weft.Control.Tests.Discovery;

/// <summary>The real DiscoveryService over in-memory calls, with virtual time and a way to wait for a stream's loop.</summary>
internal sealed class ServerHarness : IDisposable
{
    private readonly Lock _gate = new();
    private readonly List<(string Id, string Kind, TaskCompletionSource Done)> _waiters = [];

    public ServerHarness(IProxySnapshotSource? source = null, WorkloadRegistry? registry = null, FakeTime? time = null)
    {
        Time = time ?? new FakeTime();
        Source = source ?? new FakeSnapshotSource(1, Resources.Cluster("catalog"), Resources.Endpoints("catalog", "10.0.0.1"));
        Registry = registry ?? new WorkloadRegistry(new RegistryOptions(), Time);
        Service = new DiscoveryService(Source, Registry, AnyNode.Instance, Options, Time);
        Service.Processed += OnProcessed;
    }

    public DiscoveryOptions Options { get; } = new();
    public FakeTime Time { get; }
    public IProxySnapshotSource Source { get; }
    public FakeSnapshotSource Fake => (FakeSnapshotSource)Source;
    public WorkloadRegistry Registry { get; }
    public DiscoveryService Service { get; }
    public ProxyStatusBoard Board => Service.Status;

    public async Task<InMemoryCall<DiscoveryRequest, DiscoveryResponse>> OpenAsync(Node node)
    {
        var call = new InMemoryCall<DiscoveryRequest, DiscoveryResponse>().Serve(Service.HandleStreamAsync);
        await call.RequestStream.WriteAsync(new DiscoveryRequest { Node = node });
        return call;
    }

    /// <summary>Opens a stream and acknowledges its full state.</summary>
    public async Task<(InMemoryCall<DiscoveryRequest, DiscoveryResponse> Call, DiscoveryResponse First)> OpenSyncedAsync(Node node)
    {
        var call = await OpenAsync(node);
        var first = await call.Responses.NextAsync();
        await SendAsync(call, node.Id, Ack(first));
        return (call, first);
    }

    /// <summary>Sends a request and returns once the stream's loop has handled it.</summary>
    public async Task SendAsync(InMemoryCall<DiscoveryRequest, DiscoveryResponse> call, string id, DiscoveryRequest request)
    {
        var handled = Next(id, "request");
        await call.RequestStream.WriteAsync(request);
        await handled;
    }

    /// <summary>Makes a change, lets the debounce elapse, and returns once proxy <paramref name="id"/> has handled it.</summary>
    public async Task ChangeAsync(string id, Action change)
    {
        var handled = Next(id, "change");
        change();
        Time.Advance(Options.Debounce);
        await handled;
    }

    public Task Next(string id, string kind)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate) _waiters.Add((id, kind, done));
        return done.Task.WaitAsync(TimeSpan.FromSeconds(10));
    }

    public static DiscoveryRequest Ack(DiscoveryResponse r) => new() { VersionInfo = r.VersionInfo, ResponseNonce = r.Nonce };

    public static DiscoveryRequest Nack(DiscoveryResponse r, string lastApplied, string reason) => new()
    {
        VersionInfo = lastApplied,
        ResponseNonce = r.Nonce,
        ErrorDetail = new ErrorDetail { Code = 3, Message = reason },
    };

    public void Dispose() => Registry.Dispose();

    private void OnProcessed(string id, string kind)
    {
        lock (_gate)
        {
            var i = _waiters.FindIndex(w => w.Id == id && w.Kind == kind);
            if (i < 0) return;
            _waiters[i].Done.TrySetResult();
            _waiters.RemoveAt(i);
        }
    }
}
