using System.Collections.Immutable;
using System.Net;
using Weft.Protocol.Discovery;
using Weft.Proxy.Config;
using Weft.Proxy.Interception;
using OriginalDestination = Weft.Protocol.Discovery.OriginalDestination;
using WireProtocol = Weft.Protocol.Discovery.Protocol;

namespace Weft.Proxy.Tests.Interception;

public class CaptureTableTests
{
    private static Resource Capture(params OriginalDestination[] destinations)
    {
        var listener = new Listener { Address = "127.0.0.1", Port = 15001, Direction = Direction.Outbound, Capture = true };
        listener.OriginalDestinations.AddRange(destinations);
        return new Resource { Name = "capture/outbound", Listener = listener };
    }

    private static RuntimeBuilder.Result Build(params Resource[] resources)
    {
        var items = resources.ToImmutableDictionary(ResourceKeys.Of, r => r, StringComparer.Ordinal);
        return new RuntimeBuilder().Build(new ProxyResources(1, "v1", items), ProxyRuntime.Empty);
    }

    private static readonly Resource CatalogTable = new() { Name = "outbound/default/catalog", RouteTable = new RouteTable() };
    private static readonly Resource DbCluster = new() { Name = "default/db", Cluster = new Cluster { Service = "db", Namespace = "default", Protocol = WireProtocol.Tcp } };

    [Fact]
    public void Each_service_port_is_found_by_its_virtual_ip_and_port_as_a_listener_of_its_own()
    {
        var result = Build(CatalogTable, DbCluster, Capture(
            new OriginalDestination { Address = "10.255.0.7", Port = 8080, Protocol = WireProtocol.Http, RouteTable = "outbound/default/catalog", Service = "catalog" },
            new OriginalDestination { Address = "10.255.0.9", Port = 5432, Protocol = WireProtocol.Tcp, TcpCluster = "default/db", Service = "db" }));

        Assert.Empty(result.Errors);
        var listener = result.Runtime!.ListenersByPort[15001];
        var table = Assert.IsType<CaptureTable>(listener.Capture);
        Assert.Equal(2, table.Count);
        var catalog = table.Find(new IPEndPoint(IPAddress.Parse("10.255.0.7"), 8080))!;
        Assert.Equal("outbound/default/catalog", catalog.Routes.Name);
        Assert.Equal("catalog", catalog.Service);
        Assert.Equal(Direction.Outbound, catalog.Direction);
        Assert.Equal("default/db", table.Find(new IPEndPoint(IPAddress.Parse("10.255.0.9"), 5432))!.TcpCluster);
        Assert.Null(table.Find(new IPEndPoint(IPAddress.Parse("10.255.0.7"), 9090)));
        Assert.Equal(UnknownDestination.Passthrough, table.Unknown);
    }

    [Fact]
    public void A_capture_listener_with_no_services_yet_is_valid()
    {
        var result = Build(Capture());
        Assert.Empty(result.Errors);
        Assert.Equal(0, result.Runtime!.ListenersByPort[15001].Capture!.Count);
    }

    [Fact]
    public void Every_bad_destination_is_reported_with_its_path()
    {
        var result = Build(Capture(
            new OriginalDestination { Address = "catalog", Port = 8080, RouteTable = "t" },
            new OriginalDestination { Address = "10.255.0.1", Port = 0, RouteTable = "t" },
            new OriginalDestination { Address = "10.255.0.2", Port = 80, Protocol = WireProtocol.Tcp },
            new OriginalDestination { Address = "10.255.0.3", Port = 80, Protocol = WireProtocol.Http },
            new OriginalDestination { Address = "10.255.0.4", Port = 80, RouteTable = "t" },
            new OriginalDestination { Address = "10.255.0.4", Port = 80, RouteTable = "t" }));

        Assert.Null(result.Runtime);
        Assert.Collection(result.Errors,
            e => Assert.Equal("listener/capture/outbound: original_destinations[0].address: \"catalog\" is not an IP address", e),
            e => Assert.Equal("listener/capture/outbound: original_destinations[1].port: 0 is not a valid port", e),
            e => Assert.Equal("listener/capture/outbound: original_destinations[2].tcp_cluster: required for a TCP destination", e),
            e => Assert.Equal("listener/capture/outbound: original_destinations[3].route_table: required for an HTTP destination", e),
            e => Assert.Equal("listener/capture/outbound: original_destinations[5]: 10.255.0.4:80 is listed twice", e));
    }

    [Fact]
    public void A_missing_route_table_is_a_warning_and_answers_404()
    {
        var result = Build(Capture(new OriginalDestination { Address = "10.255.0.7", Port = 8080, RouteTable = "absent" }));
        Assert.Empty(result.Errors);
        Assert.Contains(result.Warnings, w => w.Contains("original_destinations[0].route_table", StringComparison.Ordinal));
        Assert.Empty(result.Runtime!.ListenersByPort[15001].Capture!.Find(new IPEndPoint(IPAddress.Parse("10.255.0.7"), 8080))!.Routes.Routes);
    }

    [Fact]
    public void Sockaddr_in_parses_to_the_original_destination()
    {
        // AF_INET (host order), port 8080 (network order), 10.255.1.2.
        byte[] sockaddr = [2, 0, 0x1f, 0x90, 10, 255, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0];
        Assert.Equal(new IPEndPoint(IPAddress.Parse("10.255.1.2"), 8080), OriginalDestinationReader.Parse(sockaddr));
        Assert.Null(OriginalDestinationReader.Parse([10, 0, 0, 0, 0, 0, 0, 0]));
        Assert.Null(OriginalDestinationReader.Parse([2, 0]));
    }
}
