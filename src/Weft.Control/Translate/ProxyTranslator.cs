using System.Collections.Immutable;
using Weft.Model.Resources;
using Pb = Weft.Protocol.Discovery;

namespace Weft.Control.Translate;

/// <summary>
/// Pure and deterministic: (mesh index, one proxy's Node) -> the resources that proxy needs, keyed by
/// ResourceKeys.Of. A sidecar gets its inbound listener to its app and one outbound listener per
/// upstream; a gateway gets its ingress listener. Each listener's route table names clusters; every
/// cluster named comes with its endpoints (possibly none). Every proxy gets the mesh-wide settings.
/// </summary>
public static class ProxyTranslator
{
    public static ImmutableDictionary<string, Pb.Resource> Translate(MeshIndex mesh, Pb.Node node)
    {
        var output = new Output();
        var ns = node.Namespace.Length == 0 ? ObjectMeta.DefaultNamespace : node.Namespace;
        var bindAddress = node.Address.Length == 0 ? "127.0.0.1" : node.Address;
        output.Add(Pb.ResourceKeys.ProxySettingsName, ProxySettingsBuilder.Build(mesh.MeshConfig.Proxy));

        if (node.Role == Pb.Role.Gateway)
        {
            AddGateway(mesh, node, ns, output);
        }
        else
        {
            if (node.InboundPort != 0 && node.AppPort != 0) AddInbound(mesh, node, ns, bindAddress, output);
            if (node.Interception == Pb.Interception.Transparent)
                AddCapture(mesh, node, output);
            else
                foreach (var (service, port) in node.Upstreams.OrderBy(u => u.Key, StringComparer.Ordinal))
                    AddOutbound(mesh, ns, service, port, output);
        }

        // Every cluster a route names must arrive with it (go-control-plane's consistency rule);
        // a backend with no Service and no workloads is still a cluster: it has no endpoints.
        foreach (var cluster in output.NamedClusters.Order(StringComparer.Ordinal).ToList())
            AddCluster(mesh, cluster, output);
        return output.Resources.ToImmutable();
    }

    private static void AddInbound(MeshIndex mesh, Pb.Node node, string ns, string bindAddress, Output output)
    {
        // The app's port: opaque TCP for tcp and tls (a TLS app terminates its own TLS), detected per
        // connection for "auto", else HTTP-aware. A workload's own Service declaring tcp or tls makes
        // it opaque whatever the workload said: its clients' sidecars send opaque bytes.
        var protocol = ProtocolOf(node.AppProtocol);
        if (mesh.Service(ns, node.Service)?.Spec.Ports is [{ Protocol: AppProtocol.Tcp or AppProtocol.Tls }, ..])
            protocol = Pb.Protocol.Tcp;
        var l4 = protocol is Pb.Protocol.Tcp or Pb.Protocol.Auto;
        var listener = new Pb.Listener
        {
            Address = bindAddress, Port = node.InboundPort, Direction = Pb.Direction.Inbound, Protocol = protocol,
            RouteTable = "inbound", TcpCluster = l4 ? ClusterNames.InboundApp : "", Service = node.Service,
            MtlsMode = MtlsModeOf(mesh, ns, node.Service), DestinationPort = node.AppPort,
        };
        listener.AuthorizationPolicies.AddRange(AuthorizationBuilder.For(mesh, ns, Registry.Workload.FromNode(node).Labels));
        output.Add("inbound", listener);
        var route = new Pb.Route { Name = "inbound/app" };
        route.Backends.Add(new Pb.WeightedCluster { Cluster = ClusterNames.InboundApp, Weight = 1 });
        var table = new Pb.RouteTable();
        table.Routes.Add(route);
        output.Add("inbound", table);
        output.Add(ClusterNames.InboundApp, new Pb.Cluster { Service = node.Service, Namespace = ns, Protocol = ClusterProtocol(protocol) });
        var endpoints = new Pb.ClusterEndpoints { Cluster = ClusterNames.InboundApp };
        endpoints.Endpoints.Add(new Pb.Endpoint { Address = "127.0.0.1", Port = node.AppPort, InstanceId = node.Id, Service = node.Service, Version = node.Version.Length == 0 ? "v1" : node.Version });
        output.Add(ClusterNames.InboundApp, endpoints);
    }

    /// <summary>What the service's inbound port takes, from its mode (DISABLE takes plaintext, as PERMISSIVE).</summary>
    private static Pb.MtlsMode MtlsModeOf(MeshIndex mesh, string ns, string service) =>
        ModeOf(mesh, ns, service) == MtlsMode.Strict ? Pb.MtlsMode.MtlsStrict : Pb.MtlsMode.MtlsPermissive;

    /// <summary>The service's own mTLS mode (MeshConfig's overrides), else the mesh's.</summary>
    private static MtlsMode ModeOf(MeshIndex mesh, string ns, string service)
    {
        var mtls = mesh.MeshConfig.Mtls;
        return mtls.Overrides.FirstOrDefault(o => o.Namespace == ns && o.Service == service)?.Mode ?? mtls.Mode;
    }

    private static void AddOutbound(MeshIndex mesh, string ns, string service, uint port, Output output)
    {
        var protocol = ServiceProtocol(mesh, ns, service);
        var cluster = ClusterNames.ForService(ns, service);
        if (protocol is Pb.Protocol.Tcp or Pb.Protocol.Tls)
        {
            // Opaque bytes have no path or headers for an HTTPRoute to match: every connection goes to
            // the Service's own cluster, which must be sent even when routes attached to the Service
            // name other clusters (else the proxy closes every connection).
            var l4 = new Pb.Listener
            {
                Address = "127.0.0.1", Port = port, Direction = Pb.Direction.Outbound, Protocol = protocol,
                TcpCluster = protocol == Pb.Protocol.Tcp ? cluster : "", Service = service,
            };
            if (protocol == Pb.Protocol.Tls)
                l4.SniRoutes.Add(SniRouteFor(ns, service, cluster));
            output.Add("outbound/" + service, l4);
            output.NamedClusters.Add(cluster);
            return;
        }
        var tableName = "outbound/" + cluster;
        // AUTO: HTTP (detected) follows the route table; anything else goes opaque to the Service's cluster.
        output.Add("outbound/" + service, new Pb.Listener
        {
            Address = "127.0.0.1", Port = port, Direction = Pb.Direction.Outbound, Protocol = protocol,
            RouteTable = tableName, Service = service, TcpCluster = protocol == Pb.Protocol.Auto ? cluster : "",
        });
        if (protocol == Pb.Protocol.Auto)
            output.NamedClusters.Add(cluster);
        AddRouteTable(tableName, RouteTableBuilder.Build(mesh.RoutesForService(ns, service), ns, service), output);
    }

    /// <summary>
    /// Transparent mode: one listener where iptables redirects every outbound connection, knowing each
    /// Service port by its (VIP, port); other destinations pass through (docs/transparent.md).
    /// </summary>
    private static void AddCapture(MeshIndex mesh, Pb.Node node, Output output)
    {
        var listener = new Pb.Listener
        {
            Address = "127.0.0.1", Port = node.OutboundCapturePort == 0 ? 15001 : node.OutboundCapturePort,
            Direction = Pb.Direction.Outbound, Protocol = Pb.Protocol.Http, Capture = true,
            UnknownDestination = Pb.UnknownDestination.Passthrough,
        };
        foreach (var service in mesh.Services)
        {
            var (sns, name) = (service.Metadata.Namespace, service.Metadata.Name);
            if (!mesh.Vips.TryGetValue((sns, name), out var vip)) continue;
            foreach (var port in service.Spec.Ports)
            {
                var protocol = ProtocolOf(port.Protocol);
                var destination = new Pb.OriginalDestination { Address = vip, Port = (uint)port.Port, Protocol = protocol, Service = name };
                if (protocol == Pb.Protocol.Tcp)
                {
                    destination.TcpCluster = ClusterNames.ForService(sns, name);
                    output.NamedClusters.Add(destination.TcpCluster);
                }
                else
                {
                    destination.RouteTable = "outbound/" + ClusterNames.ForService(sns, name);
                    AddRouteTable(destination.RouteTable, RouteTableBuilder.Build(mesh.RoutesForService(sns, name), sns, name), output);
                }
                listener.OriginalDestinations.Add(destination);
            }
        }
        output.Add(CaptureListener, listener);
    }

    /// <summary>The name of a transparent sidecar's outbound capture listener.</summary>
    public const string CaptureListener = "capture/outbound";

    /// <summary>The names a client may put in its SNI for a Service, as Kubernetes DNS spells them.</summary>
    private static Pb.SniRoute SniRouteFor(string ns, string service, string cluster)
    {
        var route = new Pb.SniRoute { Cluster = cluster };
        route.ServerNames.Add(service);
        route.ServerNames.Add(service + "." + ns);
        route.ServerNames.Add(service + "." + ns + ".svc");
        route.ServerNames.Add(service + "." + ns + ".svc.cluster.local");
        return route;
    }

    private static void AddGateway(MeshIndex mesh, Pb.Node node, string ns, Output output)
    {
        var gateway = node.GatewayName.Length == 0 ? "ingress" : node.GatewayName;
        var tableName = "gateway/" + ns + "/" + gateway;
        var attached = mesh.RoutesForGateway(ns, gateway);
        // With no route attached to the Gateway, it serves its default Service, and the routes attached
        // to that Service apply as they do for every other client of it (CONTRACT).
        var table = attached.Count > 0
            ? RouteTableBuilder.Build(attached, ns, node.DefaultService)
            : RouteTableBuilder.Build(mesh.RoutesForService(ns, node.DefaultService), ns, node.DefaultService);
        output.Add(tableName, new Pb.Listener
        {
            Address = "127.0.0.1", Port = node.GatewayPort, Direction = Pb.Direction.GatewayIngress, Protocol = Pb.Protocol.Http,
            RouteTable = tableName, Service = node.DefaultService,
        });
        AddRouteTable(tableName, table, output);
    }

    private static void AddRouteTable(string name, Pb.RouteTable table, Output output)
    {
        output.Add(name, table);
        foreach (var route in table.Routes)
            foreach (var backend in route.Backends)
                output.NamedClusters.Add(backend.Cluster);
    }

    private static void AddCluster(MeshIndex mesh, string cluster, Output output)
    {
        if (cluster == ClusterNames.InboundApp) return;
        var slash = cluster.IndexOf('/', StringComparison.Ordinal);
        var (ns, service) = (cluster[..slash], cluster[(slash + 1)..]);
        var protocol = ServiceProtocol(mesh, ns, service);
        if (protocol == Pb.Protocol.Auto)
        {
            // Undeclared: speak to the endpoints what they registered (h2c for grpc/http2 apps), else HTTP/1.1.
            // Draining ones count: a restart must not change how the Service is spoken to.
            foreach (var w in mesh.WorkloadsOf(ns, service))
            {
                protocol = ProtocolOf(w.AppProtocol);
                break;
            }
        }
        output.Add(cluster, new Pb.Cluster { Service = service, Namespace = ns, Protocol = ClusterProtocol(protocol),
            Mtls = ModeOf(mesh, ns, service) != MtlsMode.Disable });
        var endpoints = new Pb.ClusterEndpoints { Cluster = cluster };
        foreach (var w in mesh.EndpointsOf(ns, service))
        {
            var e = new Pb.Endpoint { Address = w.Address, Port = w.InboundPort, InstanceId = w.InstanceId, Service = w.Service, Version = w.Version };
            foreach (var (k, v) in w.Labels) e.Labels[k] = v;
            endpoints.Endpoints.Add(e);
        }
        output.Add(cluster, endpoints);
    }

    /// <summary>
    /// What a Service's clients speak: its (first) port's protocol; a port that declares none is
    /// detected per connection (AUTO); no Service resource: what its workloads said they speak.
    /// </summary>
    private static Pb.Protocol ServiceProtocol(MeshIndex mesh, string ns, string service)
    {
        var declared = mesh.Service(ns, service);
        if (declared is not null && declared.Spec.Ports.Count > 0)
        {
            return declared.Spec.Ports[0].Protocol switch
            {
                null => Pb.Protocol.Auto,
                AppProtocol.Http2 => Pb.Protocol.Http2,
                AppProtocol.Grpc => Pb.Protocol.Grpc,
                AppProtocol.Tcp => Pb.Protocol.Tcp,
                AppProtocol.Tls => Pb.Protocol.Tls,
                _ => Pb.Protocol.Http,
            };
        }
        foreach (var w in mesh.WorkloadsOf(ns, service)) return ProtocolOf(w.AppProtocol);
        return Pb.Protocol.Http;
    }

    private static Pb.Protocol ProtocolOf(AppProtocol? protocol) => protocol switch
    {
        AppProtocol.Http2 => Pb.Protocol.Http2,
        AppProtocol.Grpc => Pb.Protocol.Grpc,
        AppProtocol.Tcp or AppProtocol.Tls => Pb.Protocol.Tcp,
        _ => Pb.Protocol.Http,
    };

    /// <summary>
    /// How a proxy speaks to a cluster's endpoints (only HTTP/2 versus HTTP/1.1 matters to HTTP requests;
    /// opaque connections ignore it): TLS passes through as TCP; undeclared and unknown is HTTP/1.1.
    /// </summary>
    private static Pb.Protocol ClusterProtocol(Pb.Protocol protocol) => protocol switch
    {
        Pb.Protocol.Tls => Pb.Protocol.Tcp,
        Pb.Protocol.Auto => Pb.Protocol.Http,
        _ => protocol,
    };

    private static Pb.Protocol ProtocolOf(string appProtocol) => appProtocol switch
    {
        "http2" => Pb.Protocol.Http2,
        "grpc" => Pb.Protocol.Grpc,
        "tcp" or "tls" => Pb.Protocol.Tcp,
        "auto" => Pb.Protocol.Auto,
        _ => Pb.Protocol.Http,
    };

    private sealed class Output
    {
        public ImmutableDictionary<string, Pb.Resource>.Builder Resources { get; } = ImmutableDictionary.CreateBuilder<string, Pb.Resource>(StringComparer.Ordinal);
        public HashSet<string> NamedClusters { get; } = new(StringComparer.Ordinal);

        public void Add(string name, Pb.Listener l) => Put(new Pb.Resource { Name = name, Listener = l });
        public void Add(string name, Pb.RouteTable t) => Put(new Pb.Resource { Name = name, RouteTable = t });
        public void Add(string name, Pb.Cluster c) => Put(new Pb.Resource { Name = name, Cluster = c });
        public void Add(string name, Pb.ClusterEndpoints e) => Put(new Pb.Resource { Name = name, Endpoints = e });
        public void Add(string name, Pb.ProxySettings s) => Put(new Pb.Resource { Name = name, Settings = s });

        private void Put(Pb.Resource r) => Resources[Pb.ResourceKeys.Of(r)] = r;
    }
}
