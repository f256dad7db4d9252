using System.Collections.Immutable;
using Weft.Control.Discovery;
using Weft.Protocol.Discovery;
using Weft.Tests.Fakes;

namespace Weft.Control.Tests.Discovery;

public sealed class AckTrackerTests
{
    private static SentState State(string nonce, long revision, params Resource[] resources) =>
        new(nonce, "v" + nonce, revision, Resources.Set(resources), DateTimeOffset.UnixEpoch, null);

    [Fact]
    public void An_answer_without_the_outstanding_nonce_is_stale()
    {
        var acks = new AckTracker();
        Assert.Equal(AckOutcome.Stale, acks.Receive(new DiscoveryRequest { ResponseNonce = "1" }).Outcome);
        acks.Sent(State("1", 1));
        Assert.Equal(AckOutcome.Stale, acks.Receive(new DiscoveryRequest { ResponseNonce = "0" }).Outcome);
        Assert.Equal(AckOutcome.Stale, acks.Receive(new DiscoveryRequest()).Outcome);
        Assert.False(acks.CanSend);
        Assert.Null(acks.Acked);
    }

    [Fact]
    public void An_ack_makes_the_sent_state_the_base_and_frees_the_stream()
    {
        var acks = new AckTracker();
        var sent = State("1", 1, Resources.Cluster("a"));
        acks.Sent(sent);
        var (outcome, state) = acks.Receive(new DiscoveryRequest { ResponseNonce = "1", VersionInfo = sent.VersionInfo });
        Assert.Equal(AckOutcome.Ack, outcome);
        Assert.Same(sent, state);
        Assert.Same(sent, acks.Acked);
        Assert.True(acks.CanSend);
        // The same answer again is a duplicate, not a second ACK.
        Assert.Equal(AckOutcome.Stale, acks.Receive(new DiscoveryRequest { ResponseNonce = "1" }).Outcome);
    }

    [Fact]
    public void A_nack_keeps_the_acked_base_and_remembers_the_refused_state()
    {
        var acks = new AckTracker();
        var good = State("1", 1, Resources.Cluster("a"));
        acks.Sent(good);
        acks.Receive(new DiscoveryRequest { ResponseNonce = "1" });
        var bad = State("2", 2, Resources.Cluster("a", 5));
        acks.Sent(bad);
        var (outcome, _) = acks.Receive(new DiscoveryRequest { ResponseNonce = "2", ErrorDetail = new ErrorDetail { Code = 3, Message = "no" } });
        Assert.Equal(AckOutcome.Nack, outcome);
        Assert.Same(good, acks.Acked);
        Assert.True(acks.WasRefused(Resources.Set(Resources.Cluster("a", 5))));
        Assert.False(acks.WasRefused(Resources.Set(Resources.Cluster("a", 6))));
        Assert.True(acks.CanSend);
    }

    [Fact]
    public void Only_one_response_may_be_outstanding()
    {
        var acks = new AckTracker();
        acks.Sent(State("1", 1));
        Assert.Throws<InvalidOperationException>(() => acks.Sent(State("2", 2)));
    }

    [Fact]
    public void Advancing_without_change_moves_the_acked_revision_and_clears_a_refusal()
    {
        var acks = new AckTracker();
        acks.Sent(State("1", 1, Resources.Cluster("a")));
        acks.Receive(new DiscoveryRequest { ResponseNonce = "1" });
        acks.Sent(State("2", 2, Resources.Cluster("b")));
        acks.Receive(new DiscoveryRequest { ResponseNonce = "2", ErrorDetail = new ErrorDetail { Message = "no" } });
        acks.AdvanceWithoutChange(3);
        Assert.Equal(3, acks.Acked!.ConfigRevision);
        Assert.Null(acks.Nacked);
    }
}

public sealed class ResourceDiffTests
{
    [Fact]
    public void Names_only_changed_and_added_resources_and_removed_keys()
    {
        var from = Resources.Set(Resources.Cluster("a"), Resources.Cluster("b"), Resources.Endpoints("a", "10.0.0.1"));
        var to = Resources.Set(Resources.Cluster("a"), Resources.Cluster("b", 5), Resources.Cluster("c"));
        var diff = ResourceDiff.Between(from, to);
        Assert.Equal(["cluster/b", "cluster/c"], diff.Changed.Select(ResourceKeys.Of));
        Assert.Equal(["endpoints/a"], diff.Removed);
    }

    [Fact]
    public void Equal_content_rebuilt_from_scratch_is_no_change()
    {
        var diff = ResourceDiff.Between(Resources.Set(Resources.Endpoints("a", "10.0.0.1")), Resources.Set(Resources.Endpoints("a", "10.0.0.1")));
        Assert.True(diff.IsEmpty);
        Assert.True(ResourceDiff.SameState(Resources.Set(Resources.Cluster("a")), Resources.Set(Resources.Cluster("a"))));
        Assert.False(ResourceDiff.SameState(Resources.Set(Resources.Cluster("a")), ImmutableDictionary<string, Resource>.Empty));
    }
}
