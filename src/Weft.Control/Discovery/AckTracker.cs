using System.Collections.Immutable;
using Weft.Protocol.Discovery;

namespace Weft.Control.Discovery;

internal enum AckOutcome { Stale, Ack, Nack }

/// <summary>
/// The nonce and ACK/NACK rules of one stream, and nothing else (discovery.proto, rules 3 and 4):
/// at most one response is outstanding; a request answers it only by quoting its nonce, anything else is
/// stale and ignored (as in xDS); an ACK makes the sent state the base of the next diff; a NACK leaves
/// that base alone and remembers the refused state so it is not sent again.
/// </summary>
internal sealed class AckTracker
{
    /// <summary>The response awaiting an answer, if any.</summary>
    public SentState? Outstanding { get; private set; }

    /// <summary>The last state the proxy applied on this stream; null until its first ACK.</summary>
    public SentState? Acked { get; private set; }

    /// <summary>The state the proxy refused most recently, until it accepts something else.</summary>
    public SentState? Nacked { get; private set; }

    public bool CanSend => Outstanding is null;

    public void Sent(SentState state)
    {
        if (Outstanding is not null) throw new InvalidOperationException("A response is already outstanding on this stream.");
        Outstanding = state;
    }

    /// <summary>Answers the outstanding response with <paramref name="request"/>; returns what it was and which state it concerned.</summary>
    public (AckOutcome Outcome, SentState? State) Receive(DiscoveryRequest request)
    {
        var sent = Outstanding;
        if (sent is null || request.ResponseNonce.Length == 0 || request.ResponseNonce != sent.Nonce) return (AckOutcome.Stale, null);
        Outstanding = null;
        if (request.ErrorDetail is null)
        {
            Acked = sent;
            Nacked = null;
            return (AckOutcome.Ack, sent);
        }
        Nacked = sent;
        return (AckOutcome.Nack, sent);
    }

    /// <summary>
    /// A change left this proxy's resources as they are: its applied state now stands for
    /// <paramref name="configRevision"/> without sending anything.
    /// </summary>
    public void AdvanceWithoutChange(long configRevision)
    {
        if (Acked is null) throw new InvalidOperationException("Nothing was acknowledged on this stream yet.");
        Acked = Acked with { ConfigRevision = configRevision };
        Nacked = null;
    }

    /// <summary>True when <paramref name="resources"/> is exactly what the proxy refused last: sending it again would only be refused again.</summary>
    public bool WasRefused(ImmutableDictionary<string, Resource> resources) =>
        Nacked is not null && ResourceDiff.SameState(Nacked.Resources, resources);
}
