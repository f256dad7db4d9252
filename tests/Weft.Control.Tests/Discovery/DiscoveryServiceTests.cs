using System.Collections.Immutable;
using Weft.Control.Discovery;
using Weft.Control.Registry;
using Weft.Control.Store;
using Weft.Control.Tests.Translate;
using Weft.Control.Translate;
using Weft.Protocol.Discovery;
using Weft.Protocol.Grpc;
using Weft.Tests.Fakes;
using static Weft.Control.Tests.Discovery.ServerHarness;

namespace Weft.Control.Tests.Discovery;

public sealed class DiscoveryServiceTests : IDisposable
{
    private readonly ServerHarness _h = new();
    private readonly Node _node = Resources.Node("web-0", service: "web");

    public void Dispose() => _h.Dispose();

    [Fact]
    public async Task A_stream_whose_first_request_has_no_node_fails_with_invalid_argument()
    {
        var call = new InMemoryCall<DiscoveryRequest, DiscoveryResponse>().Serve(_h.Service.HandleStreamAsync);
        await call.RequestStream.WriteAsync(new DiscoveryRequest { VersionInfo = "x" });
        var status = await call.StatusAsync.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(StatusCode.InvalidArgument, status.Code);
        Assert.Empty(_h.Board.Proxies);
    }

    [Fact]
    public async Task A_stream_admission_refuses_ends_with_its_status_and_leaves_no_trace()
    {
        using var registry = new WorkloadRegistry(new RegistryOptions(), _h.Time);
        var service = new DiscoveryService(_h.Source, registry, new Refusing(), _h.Options, _h.Time);
        var call = new InMemoryCall<DiscoveryRequest, DiscoveryResponse>().Serve(service.HandleStreamAsync);
        await call.RequestStream.WriteAsync(new DiscoveryRequest { Node = _node });

        var status = await call.StatusAsync.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal((StatusCode.PermissionDenied, "not this one"), (status.Code, status.Detail));
        Assert.False(call.Responses.TryTake(out _));
        Assert.Empty(service.Status.Proxies);
        Assert.Empty(registry.Current.Workloads);
        using var metrics = new StringWriter();
        service.Metrics.WritePrometheus(metrics);
        Assert.Contains("weft_control_streams_refused_total{reason=\"permission_denied\"} 1\n", metrics.ToString());
    }

    [Fact]
    public async Task A_second_stream_for_a_live_instance_at_another_port_is_refused_and_the_first_keeps_it()
    {
        var (live, _) = await _h.OpenSyncedAsync(_node);
        var usurper = _node.Clone();
        usurper.InboundPort = 16066;
        var call = await _h.OpenAsync(usurper);

        var status = await call.StatusAsync.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(StatusCode.PermissionDenied, status.Code);
        Assert.Contains("web-0 is live at 127.0.0.1:15006", status.Detail);
        Assert.Equal(15006u, _h.Registry.Current.Workloads["web-0"].InboundPort);
        Assert.False(live.StatusAsync.IsCompleted);
    }

    private sealed class Refusing : INodeAdmission
    {
        public Weft.Control.Ca.ServiceAccountRef Admit(Node node, IServerCallContext call) =>
            throw new RpcException(StatusCode.PermissionDenied, "not this one");
    }

    [Fact]
    public async Task The_first_response_is_the_full_state_and_the_proxy_is_stale_until_it_acks()
    {
        var call = await _h.OpenAsync(_node);
        var first = await call.Responses.NextAsync();

        Assert.True(first.FullState);
        Assert.Equal(1, first.ConfigRevision);
        Assert.Equal(["cluster/catalog", "endpoints/catalog"], first.Resources.Select(ResourceKeys.Of));
        Assert.Empty(first.RemovedResources);
        Assert.NotEmpty(first.Nonce);
        Assert.NotEmpty(first.VersionInfo);
        var status = _h.Board.Find("web-0")!;
        Assert.Equal(ProxyStatusBoard.Stale, status.SyncState);
        Assert.Equal(1, status.RevisionSent);
        Assert.Equal(0, status.RevisionAcked);
        Assert.True(status.Connected);
        Assert.Equal("web", status.Service);
        Assert.Equal(1, _h.Service.Metrics.PushesTotal);
        Assert.Equal(1, _h.Service.Metrics.ProxiesConnected);
    }

    [Fact]
    public async Task An_ack_advances_the_acked_revision_and_the_proxy_is_synced()
    {
        var (_, first) = await _h.OpenSyncedAsync(_node);
        var status = _h.Board.Find("web-0")!;
        Assert.Equal(ProxyStatusBoard.Synced, status.SyncState);
        Assert.Equal(1, status.RevisionAcked);
        Assert.Equal(_h.Time.GetUtcNow(), status.AckedAt);
        Assert.Equal(first.ConfigRevision, status.RevisionSent);
    }

    [Fact]
    public async Task A_change_sends_only_changed_and_added_resources_and_names_removals()
    {
        var (call, first) = await _h.OpenSyncedAsync(_node);
        await _h.ChangeAsync("web-0", () => _h.Fake.Publish(2, Resources.Cluster("catalog"), Resources.Cluster("ratings"), Resources.Endpoints("ratings", "10.0.0.2")));

        var diff = await call.Responses.NextAsync();
        Assert.False(diff.FullState);
        Assert.Equal(2, diff.ConfigRevision);
        Assert.Equal(["cluster/ratings", "endpoints/ratings"], diff.Resources.Select(ResourceKeys.Of));
        Assert.Equal(["endpoints/catalog"], diff.RemovedResources);
        Assert.NotEqual(first.VersionInfo, diff.VersionInfo);
        Assert.NotEqual(first.Nonce, diff.Nonce);

        await _h.SendAsync(call, "web-0", Ack(diff));
        Assert.Equal(2, _h.Board.Find("web-0")!.RevisionAcked);
        Assert.Equal(ProxyStatusBoard.Synced, _h.Board.Find("web-0")!.SyncState);
    }

    [Fact]
    public async Task A_nack_keeps_the_acked_state_records_the_reason_and_the_state_is_not_resent()
    {
        var (call, first) = await _h.OpenSyncedAsync(_node);
        await _h.ChangeAsync("web-0", () => _h.Fake.Publish(2, Resources.Cluster("catalog", 0)));
        var bad = await call.Responses.NextAsync();
        Assert.Equal(["endpoints/catalog"], bad.RemovedResources);

        await _h.SendAsync(call, "web-0", Nack(bad, first.VersionInfo, "connect timeout 0"));
        var status = _h.Board.Find("web-0")!;
        Assert.Equal("NACKED: connect timeout 0", status.SyncState);
        Assert.Equal(1, status.RevisionAcked);
        Assert.Equal(2, status.RevisionNacked);
        Assert.Equal("connect timeout 0", status.NackReason);
        Assert.NotNull(status.NackedAt);
        Assert.False(call.Responses.TryTake(out _));

        // A change event that leaves the refused state as it is sends nothing.
        await _h.ChangeAsync("web-0", _h.Fake.Touch);
        Assert.False(call.Responses.TryTake(out _));
        Assert.StartsWith("NACKED", _h.Board.Find("web-0")!.SyncState);

        // The next state is diffed against what the proxy ACKed (revision 1), not what it refused.
        await _h.ChangeAsync("web-0", () => _h.Fake.Publish(3, Resources.Cluster("catalog", 2000), Resources.Cluster("ratings")));
        var next = await call.Responses.NextAsync();
        Assert.False(next.FullState);
        Assert.Equal(["cluster/catalog", "cluster/ratings"], next.Resources.Select(ResourceKeys.Of));
        Assert.Equal(["endpoints/catalog"], next.RemovedResources);
        await _h.SendAsync(call, "web-0", Ack(next));
        Assert.Equal(ProxyStatusBoard.Synced, _h.Board.Find("web-0")!.SyncState);
        Assert.Equal(1, _h.Service.Metrics.RejectedTotal);
    }

    [Fact]
    public async Task A_stale_nonce_is_ignored()
    {
        var call = await _h.OpenAsync(_node);
        var first = await call.Responses.NextAsync();

        await _h.SendAsync(call, "web-0", new DiscoveryRequest { VersionInfo = first.VersionInfo, ResponseNonce = "not-" + first.Nonce });
        await _h.SendAsync(call, "web-0", new DiscoveryRequest { VersionInfo = first.VersionInfo, ResponseNonce = "not-" + first.Nonce, ErrorDetail = new ErrorDetail { Message = "stale" } });
        var status = _h.Board.Find("web-0")!;
        Assert.Equal(ProxyStatusBoard.Stale, status.SyncState);
        Assert.Equal(0, status.RevisionAcked);
        Assert.Null(status.NackReason);

        await _h.SendAsync(call, "web-0", Ack(first));
        // A repeated ACK of an answered response is stale too: nothing moves.
        await _h.SendAsync(call, "web-0", Nack(first, "", "late"));
        Assert.Equal(ProxyStatusBoard.Synced, _h.Board.Find("web-0")!.SyncState);
        Assert.Equal(0, _h.Service.Metrics.RejectedTotal);
    }

    [Fact]
    public async Task At_most_one_response_is_outstanding_and_changes_wait_for_the_answer()
    {
        var call = await _h.OpenAsync(_node);
        var first = await call.Responses.NextAsync();

        await _h.ChangeAsync("web-0", () => _h.Fake.Publish(2, Resources.Cluster("catalog"), Resources.Cluster("ratings")));
        await _h.ChangeAsync("web-0", () => _h.Fake.Publish(3, Resources.Cluster("catalog"), Resources.Cluster("ratings"), Resources.Cluster("reviews")));
        Assert.False(call.Responses.TryTake(out _));
        Assert.Equal(ProxyStatusBoard.Stale, _h.Board.Find("web-0")!.SyncState);

        await _h.SendAsync(call, "web-0", Ack(first));
        var next = await call.Responses.NextAsync();
        Assert.Equal(3, next.ConfigRevision);
        Assert.Equal(["cluster/ratings", "cluster/reviews"], next.Resources.Select(ResourceKeys.Of));
        Assert.Equal(["endpoints/catalog"], next.RemovedResources);
        Assert.False(call.Responses.TryTake(out _));
        Assert.Equal(2, _h.Service.Metrics.PushesTotal);
    }

    [Fact]
    public async Task A_change_that_does_not_touch_the_proxy_marks_it_synced_at_the_new_revision_without_sending()
    {
        var (call, _) = await _h.OpenSyncedAsync(_node);
        await _h.ChangeAsync("web-0", () => _h.Fake.Publish(2, Resources.Cluster("catalog"), Resources.Endpoints("catalog", "10.0.0.1")));

        Assert.False(call.Responses.TryTake(out _));
        var status = _h.Board.Find("web-0")!;
        Assert.Equal(ProxyStatusBoard.Synced, status.SyncState);
        Assert.Equal(2, status.RevisionAcked);
        Assert.Equal(1, status.RevisionSent);
        Assert.Equal(1, _h.Service.Metrics.PushesTotal);

        // The next real change is still diffed correctly from the proxy's resources.
        await _h.ChangeAsync("web-0", () => _h.Fake.Publish(3, Resources.Cluster("catalog")));
        var next = await call.Responses.NextAsync();
        Assert.Equal(3, next.ConfigRevision);
        Assert.Empty(next.Resources);
        Assert.Equal(["endpoints/catalog"], next.RemovedResources);
    }

    [Fact]
    public async Task A_burst_of_changes_within_the_debounce_is_one_push()
    {
        var (call, _) = await _h.OpenSyncedAsync(_node);
        var builds = _h.Fake.Builds;
        await _h.ChangeAsync("web-0", () =>
        {
            for (var i = 2; i <= 6; i++) _h.Fake.Publish(i, Resources.Cluster("catalog"), Resources.Cluster("s" + i));
        });

        var next = await call.Responses.NextAsync();
        Assert.Equal(6, next.ConfigRevision);
        Assert.Equal(["cluster/s6"], next.Resources.Select(ResourceKeys.Of));
        Assert.False(call.Responses.TryTake(out _));
        Assert.Equal(builds + 1, _h.Fake.Builds);
    }

    [Fact]
    public async Task A_reconnect_gets_the_full_state_again()
    {
        var (call, _) = await _h.OpenSyncedAsync(_node);
        await _h.ChangeAsync("web-0", () => _h.Fake.Publish(2, Resources.Cluster("catalog")));
        await _h.SendAsync(call, "web-0", Ack(await call.Responses.NextAsync()));
        call.Break();
        await call.Handler!;

        var again = await _h.OpenAsync(_node);
        var first = await again.Responses.NextAsync();
        Assert.True(first.FullState);
        Assert.Equal(["cluster/catalog"], first.Resources.Select(ResourceKeys.Of));
        Assert.Equal(ProxyStatusBoard.Stale, _h.Board.Find("web-0")!.SyncState);
        await _h.SendAsync(again, "web-0", Ack(first));
        Assert.Equal(ProxyStatusBoard.Synced, _h.Board.Find("web-0")!.SyncState);
    }

    [Fact]
    public async Task Before_its_first_ack_on_a_stream_a_proxy_only_gets_full_states()
    {
        // The proxy may still hold the previous stream's config, so a diff against nothing would leave stale resources.
        var call = await _h.OpenAsync(_node);
        var first = await call.Responses.NextAsync();
        await _h.SendAsync(call, "web-0", Nack(first, "old", "bad listener"));
        Assert.Equal("NACKED: bad listener", _h.Board.Find("web-0")!.SyncState);

        await _h.ChangeAsync("web-0", () => _h.Fake.Publish(2, Resources.Cluster("ratings")));
        var next = await call.Responses.NextAsync();
        Assert.True(next.FullState);
        Assert.Equal(["cluster/ratings"], next.Resources.Select(ResourceKeys.Of));
    }

    [Fact]
    public async Task The_old_stream_closing_after_a_reconnect_does_not_mark_the_proxy_disconnected()
    {
        var (old, _) = await _h.OpenSyncedAsync(_node);
        var (fresh, _) = await _h.OpenSyncedAsync(_node);
        old.Break();
        await old.Handler!;

        var status = _h.Board.Find("web-0")!;
        Assert.True(status.Connected);
        Assert.Equal(ProxyStatusBoard.Synced, status.SyncState);
        Assert.Single(_h.Board.Proxies);
        Assert.Equal(1, _h.Service.Metrics.ProxiesConnected);
        Assert.False(fresh.StatusAsync.IsCompleted);
    }

    [Fact]
    public async Task A_closed_stream_shows_disconnected_then_leaves_the_status_list()
    {
        var (call, _) = await _h.OpenSyncedAsync(_node);
        await call.Requests.CompleteAsync();
        await call.Handler!;

        var status = Assert.Single(_h.Board.Proxies);
        Assert.False(status.Connected);
        Assert.Equal(ProxyStatusBoard.Disconnected, status.SyncState);
        Assert.Equal(0, _h.Service.Metrics.ProxiesConnected);
        Assert.Equal(StatusCode.OK, (await call.StatusAsync).Code);

        _h.Time.Advance(_h.Options.DisconnectedRetention);
        Assert.Empty(_h.Board.Proxies);
    }

    [Fact]
    public async Task A_stream_registers_its_workload_at_the_first_ack_and_it_leaves_after_the_grace_once_the_stream_closes()
    {
        var call = await _h.OpenAsync(_node);
        var first = await call.Responses.NextAsync();
        // Sent its config but not yet applied it (its listeners may not be bound): not an endpoint yet.
        Assert.False(_h.Registry.Current.Workloads.ContainsKey("web-0"));
        await _h.SendAsync(call, "web-0", Ack(first));
        Assert.True(_h.Registry.Current.Workloads.ContainsKey("web-0"));
        call.Break();
        await call.Handler!;
        Assert.True(_h.Registry.Current.Workloads.ContainsKey("web-0"));
        _h.Time.Advance(new RegistryOptions().DisconnectGrace);
        Assert.False(_h.Registry.Current.Workloads.ContainsKey("web-0"));
    }

    [Fact]
    public async Task Metrics_count_pushes_connections_convergence_and_rejections_in_prometheus_text()
    {
        var (call, first) = await _h.OpenSyncedAsync(_node);
        await _h.ChangeAsync("web-0", () => _h.Fake.Publish(2, Resources.Cluster("catalog", 5)));
        var bad = await call.Responses.NextAsync();
        await _h.SendAsync(call, "web-0", Nack(bad, first.VersionInfo, "bad \"timeout\""));
        await _h.ChangeAsync("web-0", () => _h.Fake.Publish(3, Resources.Cluster("catalog", 7)));
        var good = await call.Responses.NextAsync();
        _h.Time.Advance(TimeSpan.FromMilliseconds(20));
        await _h.SendAsync(call, "web-0", Ack(good));

        var text = new StringWriter();
        _h.Service.Metrics.WritePrometheus(text);
        var lines = text.ToString().Split('\n');
        Assert.Contains("weft_control_proxies_connected 1", lines);
        Assert.Contains("weft_control_pushes_total 3", lines);
        Assert.Contains("weft_control_convergence_seconds_count 1", lines);
        // Change noticed, 15 ms debounce, 20 ms to the ACK.
        Assert.Contains("weft_control_convergence_seconds_sum 0.035", lines);
        Assert.Contains("weft_control_convergence_seconds_bucket{le=\"0.05\"} 1", lines);
        Assert.Contains("weft_control_convergence_seconds_bucket{le=\"0.025\"} 0", lines);
        Assert.Contains("weft_control_config_rejected_total{reason=\"bad \\\"timeout\\\"\"} 1", lines);
        Assert.Contains("# TYPE weft_control_convergence_seconds histogram", lines);
    }

    [Fact]
    public async Task After_the_grace_a_removed_endpoint_reaches_the_proxies_routing_to_it()
    {
        var time = new FakeTime();
        var registry = new WorkloadRegistry(new RegistryOptions(), time);
        // A toy translation: every proxy gets the endpoints of catalog, from the registry.
        using var source = new TranslatedSnapshotSource(new FakeConfigSource(), registry, (config, workloads, node) =>
            Resources.Set(Resources.Endpoints("catalog", [.. workloads.Workloads.Values.Where(w => w.Service == "catalog").Select(w => w.Address)])));
        using var h = new ServerHarness(source, registry, time);
        var (web, _) = await h.OpenSyncedAsync(Resources.Node("web-0", service: "web"));

        var catalogNode = Resources.Node("catalog-0", service: "catalog", address: "10.0.0.7");
        var pushed = h.Next("web-0", "change");
        var (catalog, _) = await h.OpenSyncedAsync(catalogNode);
        h.Time.Advance(h.Options.Debounce);
        await pushed;
        var added = await web.Responses.NextAsync();
        Assert.Equal("10.0.0.7", Assert.Single(added.Resources).Endpoints.Endpoints.Single().Address);
        await h.SendAsync(web, "web-0", Ack(added));

        // Gone and back within the grace: the registry does not move, so nothing is pushed.
        var generation = registry.Current.Generation;
        catalog.Break();
        await catalog.Handler!;
        h.Time.Advance(TimeSpan.FromSeconds(2));
        (catalog, _) = await h.OpenSyncedAsync(catalogNode);
        h.Time.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal(generation, registry.Current.Generation);
        Assert.False(web.Responses.TryTake(out _));

        // Gone for longer than the grace: web-0 is told catalog has no endpoints left.
        catalog.Break();
        await catalog.Handler!;
        var removed = h.Next("web-0", "change");
        h.Time.Advance(new RegistryOptions().DisconnectGrace);
        h.Time.Advance(h.Options.Debounce);
        await removed;
        var update = await web.Responses.NextAsync();
        Assert.False(update.FullState);
        Assert.Empty(Assert.Single(update.Resources).Endpoints.Endpoints);
    }

    [Fact]
    public async Task A_meshconfig_change_reaches_a_connected_proxy_as_its_changed_settings()
    {
        var time = new FakeTime();
        var registry = new WorkloadRegistry(new RegistryOptions(), time);
        var config = new FakeConfigSource();
        using var source = new TranslatedSnapshotSource(config, registry, new MeshIndexCache().Translate);
        using var h = new ServerHarness(source, registry, time);
        var (web, first) = await h.OpenSyncedAsync(Resources.Node("web-0", service: "web"));
        Assert.Equal(new ProxySettings(), first.Resources.Single(r => ResourceKeys.Of(r) == "settings/proxy").Settings);

        const string mesh = """
            apiVersion: weft.dev/v1
            kind: MeshConfig
            metadata: { name: default }
            spec:
              proxy: { requestTimeout: 20s, ambiguousPaths: Keep }
            """;
        await h.ChangeAsync("web-0", () => config.Publish(TranslationInputs.Config(mesh, "mesh.yaml", revision: 2)));
        var changed = await web.Responses.NextAsync();
        Assert.False(changed.FullState);
        Assert.Equal(2, changed.ConfigRevision);
        var settings = Assert.Single(changed.Resources);
        Assert.Equal("settings/proxy", ResourceKeys.Of(settings));
        Assert.Equal(new ProxySettings { RequestTimeoutMs = 20_000, AmbiguousPaths = AmbiguousPathAction.AmbiguousPathKeep }, settings.Settings);
        Assert.Empty(changed.RemovedResources);
        await h.SendAsync(web, "web-0", Ack(changed));

        // The MeshConfig deleted: the resource stays and is sent again with nothing set (the proxy's defaults).
        await h.ChangeAsync("web-0", () => config.Publish(ConfigSnapshot.Empty with { Revision = 3 }));
        var reverted = await web.Responses.NextAsync();
        Assert.Equal(new ProxySettings(), Assert.Single(reverted.Resources).Settings);
        Assert.Empty(reverted.RemovedResources);
    }
}
