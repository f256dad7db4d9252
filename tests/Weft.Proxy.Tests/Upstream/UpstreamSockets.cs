using System.Net;
using System.Net.Sockets;
using Weft.Proxy.Tests.Support;
using Weft.Proxy.Upstream;

namespace Weft.Proxy.Tests.Upstream;

/// <summary>What the upstream tests look at: the proxy's sockets to an upstream and its pools.</summary>
internal static class UpstreamSockets
{
    /// <summary>
    /// This process's descriptors whose socket is connected to <paramref name="port"/> on loopback (the
    /// proxy's upstream connections; the app's own ends have the port as their local one). Read from
    /// /proc: other tests running meanwhile do not disturb the count.
    /// </summary>
    public static int ConnectedTo(int port)
    {
        var inodes = new HashSet<string>();
        foreach (var line in File.ReadLines("/proc/net/tcp").Skip(1))
        {
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            // remote address "0100007F:PORT" in hex; state 01 is ESTABLISHED.
            if (f.Length > 9 && f[3] == "01" && int.Parse(f[2].Split(':')[1], System.Globalization.NumberStyles.HexNumber) == port)
                inodes.Add(f[9]);
        }
        var count = 0;
        foreach (var fd in Directory.GetFiles("/proc/self/fd"))
        {
            try
            {
                var target = new FileInfo(fd).LinkTarget;
                if (target is not null && target.StartsWith("socket:[", StringComparison.Ordinal) && inodes.Contains(target[8..^1]))
                    count++;
            }
            catch (IOException)
            {
                // Closed meanwhile.
            }
        }
        return count;
    }

    /// <summary>The HTTP/1.1 pool of the one endpoint of cluster default/<paramref name="service"/> (null before its first request).</summary>
    public static EndpointPool? PoolOf(TestProxy proxy, string service) =>
        proxy.Host.State.Current.Clusters["default/" + service].Endpoints[0].Pool;

    /// <summary>Requests waiting for a connection to that endpoint now.</summary>
    public static int Waiting(TestProxy proxy, string service) => PoolOf(proxy, service)?.Waiting ?? 0;
}
