namespace Weft.Proxy.Balancing;

/// <summary>
/// Picks where among a cluster's endpoints a request starts. The forwarder walks on from there
/// (index + 1, + 2, ...) when an endpoint cannot be connected, so a balancer only chooses the start.
/// One instance per cluster per runtime; it may keep state but must be safe without locks.
/// </summary>
internal interface ILoadBalancer
{
    /// <summary>An index in [0, endpointCount); endpointCount is at least 1.</summary>
    int PickStart(int endpointCount);
}
