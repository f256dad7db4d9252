namespace Weft.Proxy.Upstream;

/// <summary>Round robin over a lock-free counter; wrap-around of the counter is harmless (unsigned modulo).</summary>
internal sealed class RoundRobinBalancer : ILoadBalancer
{
    private int _next = -1;

    public RoundRobinBalancer(int start = -1) => _next = start;

    /// <summary>Where the counter stands, so a rebuilt cluster continues the rotation instead of restarting it.</summary>
    public int Position => Volatile.Read(ref _next);

    public int PickStart(EndpointRuntime[] endpoints)
    {
        var n = (uint)Interlocked.Increment(ref _next);
        return (int)(n % (uint)endpoints.Length);
    }
}
