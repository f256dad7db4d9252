using System.Collections.Frozen;
using System.Net;
using Weft.Protocol.Discovery;
using Weft.Proxy.Upstream;
using Weft.Proxy.Routing;
using Tls = Weft.Proxy.Codecs.Tls;

namespace Weft.Proxy.Config;

using Protocol = Weft.Protocol.Discovery.Protocol;

/// <summary>
/// Everything the request path reads, built once per accepted config and never mutated: a request
/// reads the current runtime once and keeps it to the end, so a config swap never changes a request
/// midway.
/// </summary>
internal sealed class ProxyRuntime
{
    public static readonly ProxyRuntime Empty = new(ProxyResources.Empty,
        FrozenDictionary<int, ListenerRuntime>.Empty, FrozenDictionary<string, ClusterRuntime>.Empty);

    public ProxyRuntime(ProxyResources resources, FrozenDictionary<int, ListenerRuntime> listeners,
        FrozenDictionary<string, ClusterRuntime> clusters, ProxyLimits? limits = null)
    {
        Resources = resources;
        ListenersByPort = listeners;
        Clusters = clusters;
        Limits = limits ?? ProxyLimits.Default;
    }

    public ProxyResources Resources { get; }

    /// <summary>The mesh's trust bundle, when the config carries one (the CertificateHolder takes it on publish).</summary>
    public Security.MeshTrustBundle? TrustBundle { get; init; }

    /// <summary>The limits and timeouts in force (from the ProxySettings resource, else the defaults).</summary>
    public ProxyLimits Limits { get; }
    public FrozenDictionary<int, ListenerRuntime> ListenersByPort { get; }
    public FrozenDictionary<string, ClusterRuntime> Clusters { get; }
}

/// <summary>What a listener does with a request; the socket side lives in Listeners/.</summary>
internal sealed class ListenerRuntime
{
    public ListenerRuntime(string key, IPAddress address, int port, Direction direction, Protocol protocol,
        RouteTableRuntime routes, string tcpCluster, string service)
    {
        Key = key;
        Address = address;
        Port = port;
        Direction = direction;
        Protocol = protocol;
        Routes = routes;
        TcpCluster = tcpCluster;
        Service = service;
        NoRouteMessage = "no route for this request on listener " + key + "\n";
    }

    public string Key { get; }
    public IPAddress Address { get; }
    public int Port { get; }
    public Direction Direction { get; }
    public Protocol Protocol { get; }
    public RouteTableRuntime Routes { get; }
    public string TcpCluster { get; }
    public string Service { get; }
    public string NoRouteMessage { get; }

    /// <summary>Transparent interception: set on a capture listener, whose connections are served by their original destination.</summary>
    public Interception.CaptureTable? Capture { get; init; }

    /// <summary>TLS passthrough (and TLS detected on an AUTO port): server name -> cluster.</summary>
    public Tls.SniTable SniRoutes { get; init; } = Tls.SniTable.Empty;

    /// <summary>AUTO: how long detection waits for the client's first bytes before taking the connection for TCP.</summary>
    public TimeSpan DetectTimeout { get; init; } = DefaultDetectTimeout;

    /// <summary>Inbound: STRICT mTLS, so only sidecars' mTLS is accepted (else PERMISSIVE: plaintext too, unauthenticated).</summary>
    public bool MtlsStrict { get; init; }

    /// <summary>Inbound: the workload's AuthorizationPolicies (the pipeline's step 2, and TCP connections as they open).</summary>
    public Security.Authorization.AuthorizationTable Authorization { get; init; } = Security.Authorization.AuthorizationTable.Empty;

    public static readonly TimeSpan DefaultDetectTimeout = TimeSpan.FromMilliseconds(100);
}
