using System.Threading.Channels;
using Weft.Protocol.Discovery;
using Weft.Protocol.Grpc;
using Weft.Proxy.Config;
using Weft.Proxy.Discovery;
using Weft.Tests.Fakes;

namespace Weft.Proxy.Tests.Discovery;

/// <summary>A data plane stand-in: records every config offered and takes or refuses it as the test says.</summary>
internal sealed class FakeSink : IProxyConfigSink
{
    private readonly Channel<ProxyResources> _offered = Channel.CreateUnbounded<ProxyResources>();

    public Func<ProxyResources, string?> Decide { get; set; } = _ => null;
    public ProxyResources Serving { get; private set; } = ProxyResources.Empty;
    public int Offers { get; private set; }

    public ValueTask<string?> ApplyAsync(ProxyResources next, CancellationToken cancellationToken)
    {
        Offers++;
        _offered.Writer.TryWrite(next);
        var reason = Decide(next);
        if (reason is null) Serving = next;
        return ValueTask.FromResult(reason);
    }

    public async Task<ProxyResources> NextOfferAsync()
    {
        using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        return await _offered.Reader.ReadAsync(guard.Token);
    }

    public bool TryTakeOffer(out ProxyResources offered) => _offered.Reader.TryRead(out offered!);
}

/// <summary>The real DiscoveryClient with virtual time; every stream it opens is handed to the test (or a server) to play the other side.</summary>
internal sealed class ClientHarness : IAsyncDisposable
{
    private readonly Channel<InMemoryCall<DiscoveryRequest, DiscoveryResponse>> _calls = Channel.CreateUnbounded<InMemoryCall<DiscoveryRequest, DiscoveryResponse>>();
    private readonly CancellationTokenSource _stop = new();

    public ClientHarness(double jitter = 1.0, Func<IMessageReader<DiscoveryRequest>, IMessageWriter<DiscoveryResponse>, IServerCallContext, Task>? server = null, FakeTime? time = null)
    {
        Time = time ?? new FakeTime();
        Client = new DiscoveryClient(
            _ =>
            {
                if (UnreachableFor > 0)
                {
                    UnreachableFor--;
                    throw new RpcException(StatusCode.Unavailable, "connection refused");
                }
                var call = new InMemoryCall<DiscoveryRequest, DiscoveryResponse>();
                if (server is not null) call.Serve(server);
                _calls.Writer.TryWrite(call);
                return call;
            },
            Node, Sink, new DiscoveryClientOptions { Random = () => jitter }, Time);
    }

    public Node Node { get; } = Resources.Node("web-0", service: "web");
    public FakeSink Sink { get; } = new();
    public FakeTime Time { get; }
    public DiscoveryClient Client { get; }
    public Task? Running { get; private set; }

    /// <summary>How many of the next stream openings fail as if the control plane were down.</summary>
    public int UnreachableFor { get; set; }

    public void Start() => Running = Client.RunAsync(_stop.Token);

    public async Task<InMemoryCall<DiscoveryRequest, DiscoveryResponse>> NextCallAsync()
    {
        using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        return await _calls.Reader.ReadAsync(guard.Token);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        if (Running is not null) await Running.WaitAsync(TimeSpan.FromSeconds(10));
        Client.Dispose();
    }

    public static DiscoveryResponse Response(string version, string nonce, long revision, bool full, Resource[]? resources = null, string[]? removed = null)
    {
        var r = new DiscoveryResponse { VersionInfo = version, Nonce = nonce, ConfigRevision = revision, FullState = full };
        r.Resources.AddRange(resources ?? []);
        r.RemovedResources.AddRange(removed ?? []);
        return r;
    }
}
