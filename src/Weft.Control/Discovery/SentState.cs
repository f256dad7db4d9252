using System.Collections.Immutable;
using Weft.Protocol.Discovery;

namespace Weft.Control.Discovery;

/// <summary>
/// A state the control plane sent on one stream: the whole resource set the proxy holds once it applies
/// the response (not just the response's diff), so the next diff can be taken against it.
/// </summary>
internal sealed record SentState(
    string Nonce,
    string VersionInfo,
    long ConfigRevision,
    ImmutableDictionary<string, Resource> Resources,
    DateTimeOffset SentAt,
    DateTimeOffset? ChangeSeenAt);   // when the change this state carries was first noticed; null for a stream's opening state
