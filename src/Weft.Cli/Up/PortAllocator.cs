using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Weft.Cli.Up;

/// <summary>
/// Free TCP ports on 127.0.0.1 for one `weft up`, each handed out once.
/// </summary>
/// <remarks>
/// A port is proven free by binding it and released for the process that will listen on it. Ports
/// come from below the kernel's ephemeral range: a port from bind(0) lies inside it, where the
/// mesh's own outgoing connections could take it between our release and the app's bind.
/// </remarks>
internal sealed class PortAllocator
{
    private const int LowestPort = 20000;
    private readonly HashSet<int> _given = [];
    private readonly Lock _gate = new();
    private readonly int _first;
    private readonly int _last;
    private int _next;

    public PortAllocator()
    {
        var (ephemeralLow, _) = EphemeralRange();
        _first = LowestPort;
        _last = ephemeralLow - 1;
        // Start somewhere random so two meshes starting together rarely probe the same ports.
        _next = _last > _first ? Random.Shared.Next(_first, _last) : _first;
    }

    /// <summary>A port nobody listens on now and this allocator has not given before.</summary>
    public int Next()
    {
        lock (_gate)
        {
            if (_last > _first)
            {
                var span = _last - _first + 1;
                for (var tried = 0; tried < span; tried++)
                {
                    var port = _next;
                    _next = _next >= _last ? _first : _next + 1;
                    if (!_given.Contains(port) && TryBind(port))
                    {
                        _given.Add(port);
                        return port;
                    }
                }
            }
            // No room below the ephemeral range: let the kernel pick.
            for (var tries = 0; tries < 100; tries++)
            {
                var port = BindAny();
                if (_given.Add(port)) return port;
            }
            throw new InvalidOperationException("no free TCP port on 127.0.0.1");
        }
    }

    private static bool TryBind(int port)
    {
        try
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(IPAddress.Loopback, port));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static int BindAny()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }

    private static (int Low, int High) EphemeralRange()
    {
        try
        {
            var parts = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range")
                .Split((char[])['\t', ' ', '\n'], StringSplitOptions.RemoveEmptyEntries);
            return (int.Parse(parts[0], CultureInfo.InvariantCulture), int.Parse(parts[1], CultureInfo.InvariantCulture));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return (32768, 60999); // Linux's default
        }
    }
}
