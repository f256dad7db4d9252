using System.Net;
using Weft.Proxy.Config;

namespace Weft.Proxy.Listeners;

/// <summary>
/// Which listener serves a connection's requests: its port, and, on a capture listener (transparent
/// mode), the connection's original destination. Resolved per request against the current runtime, so
/// a config change applies from a connection's next request on.
/// </summary>
/// <param name="Peer">The verified identity of the sidecar at the other end of an mTLS connection; null: unauthenticated.</param>
internal readonly record struct ListenerBinding(int Port, IPEndPoint? OriginalDestination = null, Security.Mtls.PeerIdentity? Peer = null)
{
    /// <summary>The listener in <paramref name="runtime"/>, or null when it was removed meanwhile.</summary>
    public ListenerRuntime? Resolve(ProxyRuntime runtime)
    {
        if (!runtime.ListenersByPort.TryGetValue(Port, out var listener))
            return null;
        if (listener.Capture is { } table)
            return OriginalDestination is null ? null : table.Find(OriginalDestination);
        return listener;
    }
}
