using Weft.Control.Registry;
using Weft.Protocol.Discovery;
using Weft.Tests.Fakes;

namespace Weft.Control.Tests.Registry;

public sealed class WorkloadRegistryTests : IDisposable
{
    private readonly FakeTime _time = new();
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "weft-registry-" + Guid.NewGuid().ToString("N"));
    private readonly List<RegistrySnapshot> _changes = [];

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    private WorkloadRegistry NewRegistry(RegistryOptions? options = null)
    {
        var registry = new WorkloadRegistry(options ?? new RegistryOptions(), _time);
        registry.Changed += _changes.Add;
        return registry;
    }

    private static Node CatalogV2(string id = "catalog-v2-0")
    {
        var node = Resources.Node(id, service: "catalog", version: "v2", address: "10.0.0.9", inboundPort: 16006);
        node.Labels.Add("zone", "a");
        node.AppProtocol = "grpc";
        return node;
    }

    [Fact]
    public void A_stream_registers_its_workload_with_app_and_version_labels()
    {
        using var registry = NewRegistry();
        registry.Connect(CatalogV2());

        var w = Assert.Single(registry.Current.Workloads.Values);
        Assert.Equal(("catalog-v2-0", "catalog", "v2", "default"), (w.InstanceId, w.Service, w.Version, w.Namespace));
        Assert.Equal(("10.0.0.9", 16006u, "sidecar", "grpc"), (w.Address, w.InboundPort, w.Role, w.AppProtocol));
        Assert.Equal([("app", "catalog"), ("version", "v2"), ("zone", "a")], w.Labels.Select(p => (p.Key, p.Value)));
        Assert.True(w.Confirmed);
        Assert.Equal(1, registry.Current.Generation);
        Assert.Same(registry.Current, Assert.Single(_changes));
    }

    [Fact]
    public void Draining_instances_is_a_change_of_its_own_kept_across_registrations()
    {
        using var registry = NewRegistry();
        registry.Connect(CatalogV2());

        registry.SetDraining(["catalog-v2-0"]);
        Assert.Equal(2, registry.Current.Generation);
        Assert.Equal(["catalog-v2-0"], registry.Current.Draining);
        registry.SetDraining(["catalog-v2-0"]);
        Assert.Equal(2, registry.Current.Generation); // the same set again: no change, no push

        registry.Connect(CatalogV2("catalog-v2-1"));
        Assert.Equal(["catalog-v2-0"], registry.Current.Draining);
        Assert.Equal(2, registry.Current.Workloads.Count);

        registry.SetDraining([]);
        Assert.Empty(registry.Current.Draining);
        Assert.Equal(4, registry.Current.Generation);
        Assert.Equal(4, _changes.Count);
    }

    [Fact]
    public void Registering_the_same_node_again_is_no_change()
    {
        using var registry = NewRegistry();
        registry.Connect(CatalogV2());
        registry.Connect(CatalogV2());
        Assert.Equal(1, registry.Current.Generation);
        Assert.Single(_changes);
    }

    [Fact]
    public void A_reconnect_within_the_grace_causes_no_removal()
    {
        using var registry = NewRegistry();
        registry.Connect(CatalogV2()).Dispose();
        _time.Advance(TimeSpan.FromSeconds(2.9));
        var lease = registry.Connect(CatalogV2());
        _time.Advance(TimeSpan.FromSeconds(30));

        Assert.Single(registry.Current.Workloads);
        Assert.Single(_changes);
        GC.KeepAlive(lease);
    }

    [Fact]
    public void After_the_grace_the_workload_is_removed()
    {
        using var registry = NewRegistry();
        registry.Connect(CatalogV2()).Dispose();
        _time.Advance(TimeSpan.FromSeconds(2.9));
        Assert.Single(registry.Current.Workloads);

        _time.Advance(TimeSpan.FromSeconds(0.1));
        Assert.Empty(registry.Current.Workloads);
        Assert.Equal(2, _changes.Count);
        Assert.Equal(2, registry.Current.Generation);
    }

    [Fact]
    public void The_grace_is_configurable()
    {
        using var registry = NewRegistry(new RegistryOptions { DisconnectGrace = TimeSpan.FromSeconds(10) });
        registry.Connect(CatalogV2()).Dispose();
        _time.Advance(TimeSpan.FromSeconds(9));
        Assert.Single(registry.Current.Workloads);
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Empty(registry.Current.Workloads);
    }

    [Fact]
    public void A_workload_with_two_open_streams_stays_until_both_close()
    {
        // A reconnect can open the new stream before the old one is noticed closed.
        using var registry = NewRegistry();
        var old = registry.Connect(CatalogV2());
        var fresh = registry.Connect(CatalogV2());
        old.Dispose();
        old.Dispose();
        _time.Advance(TimeSpan.FromSeconds(10));
        Assert.Single(registry.Current.Workloads);

        fresh.Dispose();
        _time.Advance(TimeSpan.FromSeconds(3));
        Assert.Empty(registry.Current.Workloads);
    }

    [Fact]
    public void A_node_that_comes_back_changed_updates_its_workload()
    {
        using var registry = NewRegistry();
        registry.Connect(CatalogV2()).Dispose();
        var moved = CatalogV2();
        moved.Address = "10.0.0.10";
        registry.Connect(moved);
        Assert.Equal("10.0.0.10", registry.Current.Workloads["catalog-v2-0"].Address);
        Assert.Equal(2, registry.Current.Generation);
    }

    [Theory]
    [InlineData("10.0.0.66", 16006u)]
    [InlineData("10.0.0.9", 16066u)]
    public void A_live_instance_keeps_its_address_and_port_while_its_stream_is_open(string address, uint port)
    {
        using var registry = NewRegistry();
        var live = registry.Connect(CatalogV2());
        var usurper = CatalogV2();
        (usurper.Address, usurper.InboundPort) = (address, port);

        Assert.Contains("is live at 10.0.0.9:16006", registry.ConflictFor(usurper));
        var refused = Assert.Throws<WorkloadConflictException>(() => registry.Connect(usurper));
        Assert.Contains("another proxy cannot take its place", refused.Message);
        Assert.Equal(("10.0.0.9", 16006u), (registry.Current.Workloads["catalog-v2-0"].Address, registry.Current.Workloads["catalog-v2-0"].InboundPort));
        Assert.Single(_changes);

        // Once the live stream is gone, the instance may come back elsewhere (a restart on a new port).
        live.Dispose();
        Assert.Null(registry.ConflictFor(usurper));
        registry.Connect(usurper);
        Assert.Equal(address, registry.Current.Workloads["catalog-v2-0"].Address);
    }

    [Fact]
    public void An_instance_id_stays_its_services_until_the_registry_lets_it_go()
    {
        using var registry = NewRegistry();
        registry.Connect(CatalogV2()).Dispose();
        var other = Resources.Node("catalog-v2-0", service: "payments", version: "v1", address: "10.0.0.9", inboundPort: 16006);

        // In its grace period the instance is still catalog's: another service cannot claim the id.
        Assert.Contains("belongs to service default/catalog", registry.ConflictFor(other));
        Assert.Throws<WorkloadConflictException>(() => registry.Connect(other));

        _time.Advance(TimeSpan.FromSeconds(3));
        Assert.Empty(registry.Current.Workloads);
        Assert.Null(registry.ConflictFor(other));
    }

    [Fact]
    public void Every_change_is_persisted_to_registry_json_atomically()
    {
        using var registry = NewRegistry(new RegistryOptions { DataDir = _dir });
        registry.Connect(CatalogV2());
        var path = Path.Combine(_dir, "registry.json");
        Assert.True(File.Exists(path));
        Assert.Contains("catalog-v2-0", File.ReadAllText(path));
        Assert.False(File.Exists(path + ".tmp"));
    }

    [Fact]
    public void After_a_restart_known_workloads_are_restored_unconfirmed_until_their_proxy_returns_or_the_deadline()
    {
        var before = NewRegistry(new RegistryOptions { DataDir = _dir });
        before.Connect(CatalogV2("catalog-v2-0"));
        before.Connect(CatalogV2("catalog-v2-1"));
        // kill -9: no Dispose, nothing flushed beyond what each change already wrote.
        _changes.Clear();

        using var after = NewRegistry(new RegistryOptions { DataDir = _dir });
        Assert.Equal(2, after.Current.Workloads.Count);
        Assert.All(after.Current.Workloads.Values, w => Assert.False(w.Confirmed));
        Assert.Equal("10.0.0.9", after.Current.Workloads["catalog-v2-0"].Address);
        Assert.Equal("catalog", after.Current.Workloads["catalog-v2-0"].Labels["app"]);

        after.Connect(CatalogV2("catalog-v2-0"));
        Assert.True(after.Current.Workloads["catalog-v2-0"].Confirmed);
        _time.Advance(TimeSpan.FromSeconds(14.9));
        Assert.Equal(2, after.Current.Workloads.Count);

        _time.Advance(TimeSpan.FromSeconds(0.1));
        var left = Assert.Single(after.Current.Workloads.Values);
        Assert.Equal("catalog-v2-0", left.InstanceId);
        Assert.Equal(2, _changes.Count);
        Assert.DoesNotContain("catalog-v2-1", File.ReadAllText(Path.Combine(_dir, "registry.json")));
        before.Dispose();
    }

    [Fact]
    public void A_restored_workload_whose_proxy_returns_and_leaves_follows_the_normal_grace()
    {
        using (var before = NewRegistry(new RegistryOptions { DataDir = _dir })) before.Connect(CatalogV2());
        using var after = NewRegistry(new RegistryOptions { DataDir = _dir });
        after.Connect(CatalogV2()).Dispose();
        _time.Advance(TimeSpan.FromSeconds(3));
        Assert.Empty(after.Current.Workloads);
    }

    [Fact]
    public void An_unreadable_registry_file_starts_an_empty_registry()
    {
        Directory.CreateDirectory(_dir);
        File.WriteAllText(Path.Combine(_dir, "registry.json"), "{ not json");
        using var registry = NewRegistry(new RegistryOptions { DataDir = _dir });
        Assert.Empty(registry.Current.Workloads);
        registry.Connect(CatalogV2());
        Assert.Single(registry.Current.Workloads);
    }
}
