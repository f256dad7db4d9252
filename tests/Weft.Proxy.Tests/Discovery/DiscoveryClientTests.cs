using Weft.Protocol.Discovery;
using Weft.Protocol.Grpc;
using Weft.Tests.Fakes;
using static Weft.Proxy.Tests.Discovery.ClientHarness;

namespace Weft.Proxy.Tests.Discovery;

public sealed class DiscoveryClientTests
{
    [Fact]
    public async Task It_sends_its_node_first_then_applies_the_full_state_and_acks_it()
    {
        await using var h = new ClientHarness();
        h.Start();
        var call = await h.NextCallAsync();
        var hello = await call.Requests.NextAsync();
        Assert.Equal("web-0", hello.Node.Id);
        Assert.Empty(hello.ResponseNonce);

        await call.Responses.WriteAsync(Response("1.1", "n1", 1, full: true, [Resources.Cluster("catalog"), Resources.Endpoints("catalog", "10.0.0.1")]));
        var offered = await h.Sink.NextOfferAsync();
        Assert.Equal(["cluster/catalog", "endpoints/catalog"], offered.Items.Keys.Order());
        Assert.Equal((1L, "1.1"), (offered.ConfigRevision, offered.VersionInfo));

        var ack = await call.Requests.NextAsync();
        Assert.Equal(("1.1", "n1"), (ack.VersionInfo, ack.ResponseNonce));
        Assert.Null(ack.ErrorDetail);
        Assert.Null(ack.Node);
        var state = h.Client.State;
        Assert.True(state.Connected);
        Assert.Equal((1L, "1.1"), (state.AppliedRevision, state.AppliedVersion));
    }

    [Fact]
    public async Task An_incremental_response_is_last_good_plus_changes_minus_removals_and_a_full_state_replaces_everything()
    {
        await using var h = new ClientHarness();
        h.Start();
        var call = await h.NextCallAsync();
        await call.Requests.NextAsync();
        await call.Responses.WriteAsync(Response("1.1", "n1", 1, full: true, [Resources.Cluster("catalog"), Resources.Endpoints("catalog", "10.0.0.1")]));
        await h.Sink.NextOfferAsync();
        await call.Requests.NextAsync();

        await call.Responses.WriteAsync(Response("2.2", "n2", 2, full: false, [Resources.Cluster("ratings"), Resources.Cluster("catalog", 5)], ["endpoints/catalog"]));
        var next = await h.Sink.NextOfferAsync();
        Assert.Equal(["cluster/catalog", "cluster/ratings"], next.Items.Keys.Order());
        Assert.Equal(5u, next.Items["cluster/catalog"].Cluster.ConnectTimeoutMs);
        await call.Requests.NextAsync();

        await call.Responses.WriteAsync(Response("3.3", "n3", 3, full: true, [Resources.Cluster("reviews")]));
        Assert.Equal(["cluster/reviews"], (await h.Sink.NextOfferAsync()).Items.Keys);
    }

    [Fact]
    public async Task A_rejected_config_is_nacked_with_the_last_applied_version_and_later_good_versions_are_acked()
    {
        await using var h = new ClientHarness();
        h.Sink.Decide = c => c.Items.ContainsKey("cluster/broken") ? "cluster broken has no port" : null;
        h.Start();
        var call = await h.NextCallAsync();
        await call.Requests.NextAsync();
        await call.Responses.WriteAsync(Response("1.1", "n1", 1, full: true, [Resources.Cluster("catalog")]));
        await call.Requests.NextAsync();
        await h.Sink.NextOfferAsync();

        await call.Responses.WriteAsync(Response("2.2", "n2", 2, full: false, [Resources.Cluster("broken")], ["cluster/catalog"]));
        var nack = await call.Requests.NextAsync();
        Assert.Equal(("1.1", "n2"), (nack.VersionInfo, nack.ResponseNonce));
        Assert.Equal(3, nack.ErrorDetail.Code);
        Assert.Equal("cluster broken has no port", nack.ErrorDetail.Message);
        Assert.Equal(["cluster/catalog"], h.Client.Applied.Items.Keys);
        Assert.Equal("1.1", h.Sink.Serving.VersionInfo);
        Assert.Equal(("2.2", "cluster broken has no port"), (h.Client.State.LastNackVersion, h.Client.State.LastNackReason));
        Assert.Equal(1, h.Client.State.AppliedRevision);

        // The server diffs the next state against what was ACKed; the client applies it on its last good config.
        await h.Sink.NextOfferAsync();
        await call.Responses.WriteAsync(Response("3.3", "n3", 3, full: false, [Resources.Cluster("ratings")]));
        var good = await h.Sink.NextOfferAsync();
        Assert.Equal(["cluster/catalog", "cluster/ratings"], good.Items.Keys.Order());
        var ack = await call.Requests.NextAsync();
        Assert.Equal(("3.3", "n3"), (ack.VersionInfo, ack.ResponseNonce));
        Assert.Null(ack.ErrorDetail);
        Assert.Equal(3, h.Client.State.AppliedRevision);
    }

    [Fact]
    public async Task A_sink_that_throws_is_a_rejection_not_a_broken_stream()
    {
        await using var h = new ClientHarness();
        h.Sink.Decide = _ => throw new InvalidOperationException("listener port in use");
        h.Start();
        var call = await h.NextCallAsync();
        await call.Requests.NextAsync();
        await call.Responses.WriteAsync(Response("1.1", "n1", 1, full: true, [Resources.Cluster("catalog")]));
        var nack = await call.Requests.NextAsync();
        Assert.Equal("", nack.VersionInfo);
        Assert.Contains("listener port in use", nack.ErrorDetail.Message);
        Assert.True(h.Client.State.Connected);
        Assert.Empty(h.Client.Applied.Items);
    }

    [Fact]
    public async Task When_the_stream_dies_the_last_config_stays_and_a_reconnect_gets_the_full_state()
    {
        await using var h = new ClientHarness(jitter: 0.5);
        h.Start();
        var call = await h.NextCallAsync();
        await call.Requests.NextAsync();
        await call.Responses.WriteAsync(Response("1.1", "n1", 1, full: true, [Resources.Cluster("catalog"), Resources.Cluster("ratings")]));
        await call.Requests.NextAsync();
        await h.Sink.NextOfferAsync();

        var waiting = h.Time.NextTimerArmed();
        call.Break();
        await waiting;
        Assert.False(h.Client.State.Connected);
        Assert.Contains("connection lost", h.Client.State.LastError);
        Assert.Equal(2, h.Client.Applied.Items.Count);
        Assert.Equal("1.1", h.Sink.Serving.VersionInfo);
        Assert.Equal(1, h.Sink.Offers);
        // Half of the first ceiling (100 ms): the jitter is applied.
        Assert.Equal(TimeSpan.FromMilliseconds(50), h.Time.NextDue);

        h.Time.Advance(TimeSpan.FromMilliseconds(50));
        var again = await h.NextCallAsync();
        Assert.Equal("web-0", (await again.Requests.NextAsync()).Node.Id);
        await again.Responses.WriteAsync(Response("2.5", "n5", 2, full: true, [Resources.Cluster("catalog")]));
        Assert.Equal(["cluster/catalog"], (await h.Sink.NextOfferAsync()).Items.Keys);
        await again.Requests.NextAsync();
        Assert.True(h.Client.State.Connected);
        Assert.Equal(1, h.Client.State.Reconnects);
    }

    [Fact]
    public async Task The_backoff_doubles_up_to_its_cap_while_the_control_plane_is_down_and_resets_after_a_healthy_stream()
    {
        await using var h = new ClientHarness(jitter: 1.0) { UnreachableFor = 8 };
        var delays = new List<double>();
        var armed = h.Time.NextTimerArmed();
        h.Start();
        for (var i = 0; i < 8; i++)
        {
            await armed;
            var due = h.Time.NextDue!.Value;
            delays.Add(due.TotalMilliseconds);
            armed = h.Time.NextTimerArmed();
            h.Time.Advance(due);
        }
        Assert.Equal([100, 200, 400, 800, 1600, 3200, 5000, 5000], delays);

        var call = await h.NextCallAsync();
        await call.Requests.NextAsync();
        await call.Responses.WriteAsync(Response("1.1", "n1", 1, full: true));
        await call.Requests.NextAsync();
        armed = h.Time.NextTimerArmed();
        call.EndWith(new Status(StatusCode.Unavailable, "control plane restarting"));
        await armed;
        Assert.Equal(TimeSpan.FromMilliseconds(100), h.Time.NextDue);
    }

    [Fact]
    public async Task Cancelling_stops_the_client()
    {
        var h = new ClientHarness();
        h.Start();
        var call = await h.NextCallAsync();
        await call.Requests.NextAsync();
        await h.DisposeAsync();
        Assert.True(h.Running!.IsCompletedSuccessfully);
        Assert.False(h.Client.State.Connected);
    }
}

public sealed class ReconnectBackoffTests
{
    [Fact]
    public void Delays_are_full_jitter_under_a_doubling_capped_ceiling()
    {
        var rolls = new Queue<double>([0.0, 0.5, 0.25, 1.0, 0.1]);
        var backoff = new Weft.Proxy.Discovery.ReconnectBackoff(TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(500), () => rolls.Dequeue());
        Assert.Equal(TimeSpan.Zero, backoff.Next());                          // ceiling 100
        Assert.Equal(TimeSpan.FromMilliseconds(100), backoff.Next());        // ceiling 200
        Assert.Equal(TimeSpan.FromMilliseconds(100), backoff.Next());        // ceiling 400
        Assert.Equal(TimeSpan.FromMilliseconds(500), backoff.Next());        // ceiling 800 capped to 500
        backoff.Reset();
        Assert.Equal(TimeSpan.FromMilliseconds(10), backoff.Next());         // back to ceiling 100
    }

    [Fact]
    public void The_ceiling_never_overflows_after_many_failures()
    {
        var backoff = new Weft.Proxy.Discovery.ReconnectBackoff(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(5), () => 1.0);
        for (var i = 0; i < 1000; i++) backoff.Next();
        Assert.Equal(TimeSpan.FromSeconds(5), backoff.Ceiling);
    }
}
