using System.Net;
using System.Net.Sockets;
using Weft.Proxy.Tests.Support;
using Weft.Proxy.Upstream;

namespace Weft.Proxy.Tests.Upstream;

/// <summary>What the upstream tests look at: the proxy's sockets to an upstream, its pools, a host that drops SYNs.</summary>
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

/// <summary>
/// A port that drops SYNs, as a host behind a firewall that drops them: a listener whose accept queue
/// is full and never accepted from. The kernel drops a SYN it has no room for (no RST), so a connect
/// to it stays pending until the connecting side gives up.
/// </summary>
internal sealed class SynDroppingPort : IDisposable
{
    private readonly Socket _listener;
    private readonly List<Socket> _queued = [];

    private SynDroppingPort(Socket listener) => _listener = listener;

    public int Port => ((IPEndPoint)_listener.LocalEndPoint!).Port;

    public static async Task<SynDroppingPort> StartAsync()
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(0);
        var port = new SynDroppingPort(listener);
        // Fill the accept queue: connects complete until it is full; the first that gets no answer
        // within a second (loopback answers in microseconds) proves the SYNs are dropped now.
        for (var i = 0; i < 64; i++)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            try
            {
                await socket.ConnectAsync(IPAddress.Loopback, port.Port, wait.Token);
                port._queued.Add(socket);
            }
            catch (OperationCanceledException)
            {
                socket.Dispose();
                return port;
            }
        }
        port.Dispose();
        throw new InvalidOperationException("the accept queue never filled: SYNs are not dropped here");
    }

    public void Dispose()
    {
        foreach (var socket in _queued)
            socket.Dispose();
        _listener.Dispose();
    }
}
