using System.Collections.Immutable;
using Weft.Protocol.Discovery;
using Weft.Proxy.Config;

namespace Weft.Proxy.Tests.Support;

using Protocol = Weft.Protocol.Discovery.Protocol;

/// <summary>Builds the ProxyResources a control plane would send, in a few readable lines per test.</summary>
public sealed class ConfigBuilder
{
    private readonly Dictionary<string, Resource> _items = new();

    public ConfigBuilder Listener(int port, string routeTable = "rt", Direction direction = Direction.Outbound,
        Protocol protocol = Protocol.Http, string service = "catalog", string address = "127.0.0.1", MtlsMode mtls = MtlsMode.MtlsPermissive,
        string? tcpCluster = null)
    {
        var name = $"{address}_{port}";
        return Add(new Resource
        {
            Name = name,
            Listener = new Listener
            {
                Address = address, Port = (uint)port, Direction = direction, Protocol = protocol,
                RouteTable = protocol == Protocol.Tcp ? "" : routeTable, Service = service,
                TcpCluster = tcpCluster ?? (protocol == Protocol.Tcp ? routeTable : ""), MtlsMode = mtls,
            },
        });
    }

    public ConfigBuilder Routes(string name, params Route[] routes)
    {
        var table = new RouteTable();
        table.Routes.AddRange(routes);
        return Add(new Resource { Name = name, RouteTable = table });
    }

    /// <summary>A cluster "default/SERVICE" with endpoints on 127.0.0.1 at the given ports (version v1 unless given).</summary>
    public ConfigBuilder Cluster(string service, Protocol protocol, params (int Port, string Version)[] endpoints)
    {
        var name = "default/" + service;
        Add(new Resource
        {
            Name = name,
            Cluster = new Cluster { Service = service, Namespace = "default", Protocol = protocol, ConnectTimeoutMs = 2000 },
        });
        var eps = new ClusterEndpoints { Cluster = name };
        var i = 0;
        foreach (var (port, version) in endpoints)
        {
            eps.Endpoints.Add(new Endpoint
            {
                Address = "127.0.0.1", Port = (uint)port, InstanceId = $"{service}-{i++}", Service = service, Version = version,
            });
        }
        return Add(new Resource { Name = name, Endpoints = eps });
    }

    /// <summary>Cluster "default/SERVICE"'s endpoints are sidecars: spoken to over mTLS, proving ns/default/sa/SERVICE.</summary>
    public ConfigBuilder Mtls(string service)
    {
        _items[ResourceKeys.Of(new Resource { Name = "default/" + service, Cluster = new Cluster() })].Cluster.Mtls = true;
        return this;
    }

    public ConfigBuilder Cluster(string service, params int[] ports) =>
        Cluster(service, Protocol.Http, ports.Select(p => (p, "v1")).ToArray());

    /// <summary>The mesh's ProxySettings (null: none, every limit at its default).</summary>
    public ConfigBuilder Settings(ProxySettings? settings) =>
        settings is null ? this : Add(new Resource { Name = ResourceKeys.ProxySettingsName, Settings = settings });

    public ConfigBuilder Add(Resource resource)
    {
        _items[ResourceKeys.Of(resource)] = resource;
        return this;
    }

    /// <summary>A resource added before, by its key (a listener's is "listener/ADDRESS_PORT"; "ADDRESS_PORT" is enough).</summary>
    public Resource Get(string key) => _items.TryGetValue(key, out var r) ? r : _items["listener/" + key];

    public ConfigBuilder Remove(string key)
    {
        _items.Remove(key);
        return this;
    }

    public ProxyResources Build(long revision = 1) =>
        new(revision, "v" + revision, _items.ToImmutableDictionary());

    /// <summary>A route to weighted clusters ("default/" is prefixed) with optional matches.</summary>
    public static Route Route(string name, IEnumerable<RouteMatch>? matches, params (string Service, uint Weight)[] backends)
    {
        var route = new Route { Name = name };
        if (matches is not null)
            route.Matches.AddRange(matches);
        foreach (var (service, weight) in backends)
            route.Backends.Add(new WeightedCluster { Cluster = "default/" + service, Weight = weight });
        return route;
    }

    public static Route Route(string service) => Route("default/" + service, null, (service, 1));

    public static RouteMatch Prefix(string value) => new() { Path = new PathMatch { Kind = PathMatch.Types.Kind.Prefix, Value = value } };
    public static RouteMatch Exact(string value) => new() { Path = new PathMatch { Kind = PathMatch.Types.Kind.Exact, Value = value } };
    public static RouteMatch Regex(string value) => new() { Path = new PathMatch { Kind = PathMatch.Types.Kind.Regex, Value = value } };
}
