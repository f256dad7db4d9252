using System.Net;
using System.Net.Sockets;

namespace Weft.Proxy.Tests.Upstream;

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
