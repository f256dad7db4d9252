using Weft.Control.Discovery;
using Weft.Control.Registry;
using Weft.Protocol.Discovery;
using Weft.Tests.Fakes;

namespace Weft.Proxy.Tests.Discovery;

/// <summary>The real DiscoveryClient against the real DiscoveryService handler, over in-memory streams and one virtual clock.</summary>
public sealed class ClientServerTests : IAsyncDisposable
{
    private readonly FakeTime _time = new();
    private readonly FakeSnapshotSource _source = new(1, Resources.Cluster("catalog"), Resources.Endpoints("catalog", "10.0.0.1"));
    private readonly WorkloadRegistry _registry;
    private readonly DiscoveryService _server;
    private readonly DiscoveryOptions _options = new();
    private readonly ClientHarness _proxy;

    public ClientServerTests()
    {
        _registry = new WorkloadRegistry(new RegistryOptions(), _time);
        _server = new DiscoveryService(_source, _registry, AnyNode.Instance, _options, _time);
        _proxy = new ClientHarness(jitter: 1.0, server: _server.HandleStreamAsync, time: _time);
    }

    public async ValueTask DisposeAsync()
    {
        await _proxy.DisposeAsync();
        _registry.Dispose();
    }

    private Task<ProxyStatus> SyncedAt(long revision) =>
        _server.Status.WaitForAsync("web-0", s => s.SyncState == ProxyStatusBoard.Synced && s.RevisionAcked == revision);

    private void Publish(long revision, params Resource[] resources)
    {
        _source.Publish(revision, resources);
        _time.Advance(_options.Debounce);
    }

    private void AssertProxyHoldsSnapshot()
    {
        var expected = _source.Current.OrderBy(p => p.Key, StringComparer.Ordinal).ToList();
        var actual = _proxy.Client.Applied.Items.OrderBy(p => p.Key, StringComparer.Ordinal).ToList();
        Assert.Equal(expected, actual);
    }

    [Fact]
    public async Task A_proxy_converges_on_its_snapshot_and_the_server_sees_it_synced()
    {
        _proxy.Start();
        var status = await SyncedAt(1);
        Assert.Equal(1, status.RevisionSent);
        AssertProxyHoldsSnapshot();
        Assert.Equal(1, _proxy.Client.State.AppliedRevision);
        Assert.True(_registry.Current.Workloads.ContainsKey("web-0"));
    }

    [Fact]
    public async Task Every_change_reaches_the_proxy_as_a_whole_config_equal_to_the_server_snapshot()
    {
        _proxy.Start();
        await SyncedAt(1);

        Publish(2, Resources.Cluster("catalog"), Resources.Endpoints("catalog", "10.0.0.1", "10.0.0.2"), Resources.Cluster("ratings"));
        await SyncedAt(2);
        AssertProxyHoldsSnapshot();

        Publish(3, Resources.Cluster("ratings", 250));
        await SyncedAt(3);
        AssertProxyHoldsSnapshot();
        Assert.Equal(3, _proxy.Sink.Offers);
        Assert.Equal(3, _server.Metrics.PushesTotal);
        Assert.Equal(2, _server.Metrics.ConvergenceCount);
    }

    [Fact]
    public async Task A_rejected_config_shows_nacked_the_proxy_keeps_its_last_good_and_takes_the_next_good_one()
    {
        _proxy.Sink.Decide = c => c.Items.ContainsKey("cluster/broken") ? "cluster broken: no endpoints port" : null;
        _proxy.Start();
        await SyncedAt(1);

        Publish(2, Resources.Cluster("broken"));
        var nacked = await _server.Status.WaitForAsync("web-0", s => s.SyncState.StartsWith("NACKED", StringComparison.Ordinal));
        Assert.Equal("NACKED: cluster broken: no endpoints port", nacked.SyncState);
        Assert.Equal((1L, 2L), (nacked.RevisionAcked, nacked.RevisionNacked));
        Assert.Equal(1, _proxy.Client.Applied.ConfigRevision);
        Assert.Equal(["cluster/catalog", "endpoints/catalog"], _proxy.Client.Applied.Items.Keys.Order());

        Publish(3, Resources.Cluster("reviews"), Resources.Cluster("catalog"));
        await SyncedAt(3);
        AssertProxyHoldsSnapshot();
        Assert.Equal(1, _server.Metrics.RejectedTotal);
    }

    [Fact]
    public async Task After_the_stream_breaks_the_proxy_keeps_serving_reconnects_and_gets_the_full_state_without_endpoint_churn()
    {
        _proxy.Start();
        var call = await _proxy.NextCallAsync();
        await SyncedAt(1);
        var generation = _registry.Current.Generation;

        call.Break();
        await call.Handler!.WaitAsync(TimeSpan.FromSeconds(10));
        // Wait for both the registry's grace timer and the client's backoff before moving time.
        while (true)
        {
            var armed = _time.NextTimerArmed();
            if (_time.PendingTimers >= 2) break;
            await armed.WaitAsync(TimeSpan.FromSeconds(10));
        }
        Assert.Equal(ProxyStatusBoard.Disconnected, _server.Status.Find("web-0")!.SyncState);
        Assert.Equal(2, _proxy.Client.Applied.Items.Count);

        _source.Publish(2, Resources.Cluster("catalog"));   // changed while the proxy was away
        _time.Advance(TimeSpan.FromMilliseconds(100));      // the backoff (jitter pinned to the ceiling)
        await SyncedAt(2);
        Assert.Equal(["cluster/catalog"], _proxy.Client.Applied.Items.Keys);
        Assert.True(_proxy.Client.State.Connected);

        _time.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(generation, _registry.Current.Generation);
        Assert.True(_registry.Current.Workloads.ContainsKey("web-0"));
    }
}
