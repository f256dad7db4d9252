using System.Collections.Concurrent;
using Weft.Proxy.Config;

namespace Weft.Proxy.Listeners;

/// <summary>
/// Open downstream connections per listener and for the whole proxy, against the runtime's limits: a
/// connection beyond either is refused (reset at once, counted), the ones already open are served.
/// </summary>
internal sealed class ConnectionLimiter(RuntimeState state)
{
    private readonly ConcurrentDictionary<int, StrongBox> _perPort = new();
    private int _total;

    private sealed class StrongBox
    {
        public int Value;
    }

    /// <summary>True when the connection may be served (then <see cref="Exit"/> when it ends).</summary>
    public bool TryEnter(int port)
    {
        var limits = state.Current.Limits;
        var box = _perPort.TryGetValue(port, out var b) ? b : _perPort.GetOrAdd(port, static _ => new StrongBox());
        if (Interlocked.Increment(ref box.Value) > limits.MaxConnectionsPerListener)
        {
            Interlocked.Decrement(ref box.Value);
            return false;
        }
        if (Interlocked.Increment(ref _total) > limits.MaxConnections)
        {
            Interlocked.Decrement(ref _total);
            Interlocked.Decrement(ref box.Value);
            return false;
        }
        return true;
    }

    public void Exit(int port)
    {
        Interlocked.Decrement(ref _total);
        if (_perPort.TryGetValue(port, out var box))
            Interlocked.Decrement(ref box.Value);
    }

    /// <summary>Connections open now on <paramref name="port"/> (for tests and the admin page).</summary>
    public int Open(int port) => _perPort.TryGetValue(port, out var box) ? Volatile.Read(ref box.Value) : 0;

    public int OpenTotal => Volatile.Read(ref _total);
}
