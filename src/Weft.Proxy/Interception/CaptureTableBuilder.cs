using System.Collections.Frozen;
using System.Globalization;
using System.Net;
using Weft.Protocol.Discovery;
using Weft.Proxy.Config;
using Weft.Proxy.Routing;

namespace Weft.Proxy.Interception;

using Protocol = Weft.Protocol.Discovery.Protocol;

/// <summary>Validates a capture listener (Listener.capture, fields 30-39) and compiles its CaptureTable; errors carry field paths.</summary>
internal static class CaptureTableBuilder
{
    public static ListenerRuntime? Build(string key, Listener spec, IReadOnlyDictionary<string, RouteTableRuntime> tables,
        IReadOnlySet<string> clusters, List<string> errors, List<string> warnings)
    {
        var before = errors.Count;
        IPAddress? address = IPAddress.Loopback;
        if (!string.IsNullOrEmpty(spec.Address) && !IPAddress.TryParse(spec.Address, out address))
            errors.Add(key + ": address: \"" + spec.Address + "\" is not an IP address");
        if (spec.Port is 0 or > 65535)
            errors.Add(key + ": port: " + Text(spec.Port) + " is not a valid port");
        if (!Enum.IsDefined(spec.UnknownDestination))
            errors.Add(key + ": unknown_destination: unknown value " + Text((uint)spec.UnknownDestination));

        var destinations = new Dictionary<IPEndPoint, ListenerRuntime>();
        for (var i = 0; i < spec.OriginalDestinations.Count; i++)
        {
            var d = spec.OriginalDestinations[i];
            var path = key + ": original_destinations[" + i.ToString(CultureInfo.InvariantCulture) + "]";
            if (!IPAddress.TryParse(d.Address, out var ip))
            {
                errors.Add(path + ".address: \"" + d.Address + "\" is not an IP address");
                continue;
            }
            if (d.Port is 0 or > 65535)
            {
                errors.Add(path + ".port: " + Text(d.Port) + " is not a valid port");
                continue;
            }
            if (!Enum.IsDefined(d.Protocol))
            {
                errors.Add(path + ".protocol: unknown protocol " + Text((uint)d.Protocol));
                continue;
            }
            var endpoint = new IPEndPoint(ip, (int)d.Port);
            var routes = RouteTableRuntime.Empty;
            if (d.Protocol == Protocol.Tcp)
            {
                if (string.IsNullOrEmpty(d.TcpCluster))
                    errors.Add(path + ".tcp_cluster: required for a TCP destination");
                else if (!clusters.Contains(d.TcpCluster))
                    warnings.Add(path + ".tcp_cluster: cluster \"" + d.TcpCluster + "\" is not in the config; connections are closed");
            }
            else if (string.IsNullOrEmpty(d.RouteTable))
            {
                errors.Add(path + ".route_table: required for an HTTP destination");
            }
            else if (!tables.TryGetValue(d.RouteTable, out routes!))
            {
                warnings.Add(path + ".route_table: \"" + d.RouteTable + "\" is not in the config; every request gets 404");
                routes = new RouteTableRuntime(d.RouteTable, []);
            }
            var virtualKey = key + "@" + endpoint;
            if (!destinations.TryAdd(endpoint, new ListenerRuntime(virtualKey, address!, (int)spec.Port, Direction.Outbound, d.Protocol, routes, d.TcpCluster, d.Service)))
                errors.Add(path + ": " + endpoint + " is listed twice");
        }
        if (errors.Count != before)
            return null;
        return new ListenerRuntime(key, address!, (int)spec.Port, Direction.Outbound, Protocol.Http, RouteTableRuntime.Empty, "", spec.Service)
        {
            Capture = new CaptureTable(destinations.ToFrozenDictionary(), spec.UnknownDestination),
        };
    }

    private static string Text(uint value) => value.ToString(CultureInfo.InvariantCulture);
}
