using Weft.Protocol.Discovery;

namespace Weft.Proxy.Upstream;

using Protocol = Weft.Protocol.Discovery.Protocol;

/// <summary>A cluster as one runtime sees it: its endpoints (immutable for this runtime) and its balancer.</summary>
internal sealed class ClusterRuntime
{
    /// <summary>A cluster's connect timeout when its spec sets none.</summary>
    public static readonly TimeSpan DefaultConnectTimeout = TimeSpan.FromSeconds(10);

    public ClusterRuntime(string name, Cluster spec, EndpointRuntime[] endpoints, ILoadBalancer balancer)
    {
        Name = name;
        Service = spec.Service;
        Namespace = spec.Namespace;
        Protocol = spec.Protocol;
        ConnectTimeout = spec.ConnectTimeoutMs == 0 ? DefaultConnectTimeout : TimeSpan.FromMilliseconds(spec.ConnectTimeoutMs);
        Endpoints = endpoints;
        Balancer = balancer;
        var display = string.IsNullOrEmpty(spec.Namespace) ? spec.Service : spec.Namespace + "/" + spec.Service;
        if (string.IsNullOrEmpty(display))
            display = name;
        NoEndpointsMessage = "no healthy endpoints for service " + display + "\n";
        ConnectFailedMessage = "could not connect to any endpoint of service " + display + "\n";
        UpstreamResetMessage = "upstream of service " + display + " reset or closed before responding\n";
        TimeoutMessage = "upstream of service " + display + " did not answer within the request timeout\n";
        OverflowMessage = "too many requests waiting for a connection to an endpoint of service " + display + "\n";
        UsesHttp2 = Protocol is Protocol.Http2 or Protocol.Grpc;
        UpgradeUnsupportedMessage = "service " + display + " speaks HTTP/2: an HTTP/1.1 Upgrade (WebSocket) cannot be forwarded to it\n";
    }

    public string Name { get; }
    public string Service { get; }
    public string Namespace { get; }
    public Protocol Protocol { get; }
    public bool UsesHttp2 { get; }
    public TimeSpan ConnectTimeout { get; }
    public EndpointRuntime[] Endpoints { get; }
    public ILoadBalancer Balancer { get; }

    // Failure answers' bodies made once per config, not per failed request.
    public string NoEndpointsMessage { get; }
    public string ConnectFailedMessage { get; }
    public string UpstreamResetMessage { get; }
    public string TimeoutMessage { get; }
    public string OverflowMessage { get; }
    public string UpgradeUnsupportedMessage { get; }
}
