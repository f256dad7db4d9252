using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Weft.Proxy.Http;

/// <summary>Thrown by our connect callback so a failed connect is told apart from a reset with certainty.</summary>
internal sealed class UpstreamConnectException(string message, Exception inner) : IOException(message, inner);

/// <summary>
/// The HTTP clients toward upstreams. One SocketsHttpHandler per distinct connect timeout (clusters
/// almost always share one), so connection pools, keyed by endpoint inside the handler, outlive config
/// changes. Disposed only at shutdown, when no request can use them.
/// </summary>
internal sealed class UpstreamClients : IDisposable
{
    private readonly ConcurrentDictionary<TimeSpan, HttpMessageInvoker> _invokers = new();

    public HttpMessageInvoker For(TimeSpan connectTimeout) =>
        _invokers.TryGetValue(connectTimeout, out var invoker) ? invoker : _invokers.GetOrAdd(connectTimeout, Create);

    private static HttpMessageInvoker Create(TimeSpan connectTimeout)
    {
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            ConnectTimeout = connectTimeout,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(90),
            EnableMultipleHttp2Connections = true,
            // Trace headers are the proxy's business (later: its own spans), not the handler's.
            ActivityHeadersPropagator = null,
            ConnectCallback = ConnectAsync,
        };
        return new HttpMessageInvoker(handler, disposeHandler: true);
    }

    private static async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(context.DnsEndPoint, cancellationToken).ConfigureAwait(false);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch (Exception ex)
        {
            socket.Dispose();
            throw new UpstreamConnectException("connect to " + context.DnsEndPoint.Host + ":" + context.DnsEndPoint.Port + " failed: " + ex.Message, ex);
        }
    }

    public void Dispose()
    {
        foreach (var invoker in _invokers.Values)
            invoker.Dispose();
        _invokers.Clear();
    }
}
