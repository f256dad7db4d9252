using System.Collections.Frozen;
using System.Net;
using Weft.Protocol.Discovery;
using Weft.Proxy.Config;

namespace Weft.Proxy.Interception;

/// <summary>
/// What a capture listener knows: each Service port by its (virtual IP, port), as a listener of its
/// own, so the HTTP pipeline and the TCP forwarder serve a captured connection exactly as they serve
/// an explicit outbound port. Immutable, part of the runtime.
/// </summary>
internal sealed class CaptureTable
{
    private readonly FrozenDictionary<IPEndPoint, ListenerRuntime> _destinations;

    public CaptureTable(FrozenDictionary<IPEndPoint, ListenerRuntime> destinations, UnknownDestination unknown)
    {
        _destinations = destinations;
        Unknown = unknown;
    }

    public UnknownDestination Unknown { get; }

    public int Count => _destinations.Count;

    public ListenerRuntime? Find(IPEndPoint destination) => _destinations.GetValueOrDefault(destination);
}
