using System.Net;
using System.Net.Sockets;

namespace Weft.Proxy.Upstream;

/// <summary>A failed connect, told apart from a reset with certainty (never by parsing a message).</summary>
internal sealed class UpstreamConnectException(string message, Exception inner, bool timedOut) : IOException(message, inner)
{
    /// <summary>The connect's time ran out (no answer), rather than a refusal or an unknown host.</summary>
    public bool TimedOut { get; } = timedOut;
}

/// <summary>
/// The one place an upstream connection is opened, for every protocol: HTTP/1.1 pools, HTTP/2
/// connections (HttpClient's connect callback), TCP and TLS passthrough, a capture listener's
/// passthrough. TCP_NODELAY on; on Weft's event-loop transport where it runs, else .NET's sockets.
/// mTLS will wrap the connection here (issue 12).
/// </summary>
internal sealed class Connector(Transport.LoopTransport? loops, bool inlineCompletions = false, Microsoft.Extensions.Logging.ILogger? logger = null) : IDisposable
{
    // .NET's sockets for pooled HTTP connections: Kestrel's socket connection (pipes without an
    // allocation per read); a spliced one needs half-close, which only a plain socket stream gives here.
    private readonly Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets.SocketConnectionContextFactory? _sockets = loops is null
        ? new(new() { UnsafePreferInlineScheduling = inlineCompletions }, logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance)
        : null;

    /// <summary>
    /// Connects within <paramref name="timeout"/>; a failure is an <see cref="UpstreamConnectException"/>.
    /// <paramref name="halfClose"/>: the connection will be spliced (completing its output must send FIN only).
    /// </summary>
    public async ValueTask<UpstreamTransport> ConnectAsync(string host, int port, TimeSpan timeout, CancellationToken cancellationToken = default,
        bool halfClose = false)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            if (!IPAddress.TryParse(host, out var ip))
            {
                var addresses = await Dns.GetHostAddressesAsync(host, deadline.Token).ConfigureAwait(false);
                ip = addresses.Length > 0 ? addresses[0] : throw new SocketException((int)SocketError.HostNotFound);
            }
            return await ConnectAsync(new IPEndPoint(ip, port), halfClose, deadline.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            throw new UpstreamConnectException("connect to " + host + ":" + port.ToString(System.Globalization.CultureInfo.InvariantCulture) +
                " failed: " + (ex is OperationCanceledException ? "timed out" : ex.Message), ex, timedOut: ex is OperationCanceledException);
        }
    }

    private async ValueTask<UpstreamTransport> ConnectAsync(IPEndPoint endpoint, bool halfClose, CancellationToken cancellationToken)
    {
        if (loops is not null)
            return new ConnectionUpstream(await loops.ConnectAsync(endpoint, cancellationToken).ConfigureAwait(false));
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endpoint, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        return halfClose || _sockets is null ? new SocketUpstream(socket) : new ConnectionUpstream(_sockets.Create(socket), socket);
    }

    public void Dispose() => _sockets?.Dispose();
}
