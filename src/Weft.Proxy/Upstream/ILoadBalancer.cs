namespace Weft.Proxy.Upstream;

/// <summary>
/// Picks where among a cluster's endpoints a request starts; the cluster client walks on from there
/// (index + 1, + 2, ...) when an endpoint cannot be connected. A balancer sees each endpoint's state
/// (its requests in flight, failures: <see cref="EndpointStats"/>), so least-request and latency-aware
/// policies plug in here (issue 13). One instance per cluster per runtime; safe without locks.
/// </summary>
internal interface ILoadBalancer
{
    /// <summary>An index into <paramref name="endpoints"/>, which holds at least one.</summary>
    int PickStart(EndpointRuntime[] endpoints);
}
