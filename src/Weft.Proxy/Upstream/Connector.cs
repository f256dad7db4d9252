using System.Net;
using System.Net.Sockets;

namespace Weft.Proxy.Upstream;

/// <summary>A failed connect, told apart from a reset with certainty (never by parsing a message).</summary>
internal sealed class UpstreamConnectException(string message, Exception inner, bool timedOut) : IOException(message, inner)
{
    /// <summary>The connect's time ran out (no answer), rather than a refusal or an unknown host.</summary>
    public bool TimedOut { get; } = timedOut;
}

/// <summary>An mTLS connect: who the endpoint must prove to be, and what will run inside (ALPN).</summary>
internal readonly record struct MtlsTarget(Security.Mtls.ExpectedPeer Peer, System.Net.Security.SslApplicationProtocol Protocol);

/// <summary>
/// The one place an upstream connection is opened, for every protocol: HTTP/1.1 pools, HTTP/2
/// connections, TCP and TLS passthrough, a capture listener's passthrough. TCP_NODELAY on; on Weft's
/// event-loop transport where it runs, else .NET's sockets. A connection to a sidecar is wrapped in
/// mTLS here (<see cref="Security.Mtls.MeshTls"/>), so every protocol gets it from this one place.
/// </summary>
internal sealed class Connector(Transport.LoopTransport? loops, bool inlineCompletions = false, Microsoft.Extensions.Logging.ILogger? logger = null,
    Security.Mtls.MeshTls? mtls = null) : IDisposable
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
    /// <paramref name="target"/>: the endpoint is a sidecar, spoken to over mTLS (a failed handshake is a failed connect).
    public async ValueTask<UpstreamTransport> ConnectAsync(string host, int port, TimeSpan timeout, CancellationToken cancellationToken = default,
        bool halfClose = false, MtlsTarget? target = null)
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
            if (target is not { } tls)
                return await ConnectAsync(new IPEndPoint(ip, port), halfClose, deadline.Token).ConfigureAwait(false);
            return await ConnectMtlsAsync(new IPEndPoint(ip, port), tls, deadline.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            throw new UpstreamConnectException("connect to " + host + ":" + port.ToString(System.Globalization.CultureInfo.InvariantCulture) +
                " failed: " + (ex is OperationCanceledException ? "timed out" : ex.Message), ex, timedOut: ex is OperationCanceledException);
        }
        catch (Exception ex) when (target is not null && ex is not UpstreamConnectException && !cancellationToken.IsCancellationRequested)
        {
            // Any failure of the handshake (a refused certificate, a reset, an EOF) is a failed connect:
            // nothing was sent, the next endpoint may serve.
            throw new UpstreamConnectException("mTLS with " + host + ":" + port.ToString(System.Globalization.CultureInfo.InvariantCulture) +
                " failed: " + ex.Message, ex, timedOut: ex is OperationCanceledException);
        }
    }

    private async ValueTask<UpstreamTransport> ConnectAsync(IPEndPoint endpoint, bool halfClose, CancellationToken cancellationToken)
    {
        if (loops is not null)
            return new ConnectionUpstream(await loops.ConnectAsync(endpoint, cancellationToken).ConfigureAwait(false));
        var socket = await ConnectSocketAsync(endpoint, cancellationToken).ConfigureAwait(false);
        return halfClose || _sockets is null ? new SocketUpstream(socket) : new ConnectionUpstream(_sockets.Create(socket), socket);
    }

    /// <summary>A connected .NET socket (TCP_NODELAY); disposed when the connect fails.</summary>
    private static async ValueTask<Socket> ConnectSocketAsync(IPEndPoint endpoint, CancellationToken cancellationToken)
    {
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endpoint, cancellationToken).ConfigureAwait(false);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private async ValueTask<UpstreamTransport> ConnectMtlsAsync(IPEndPoint endpoint, MtlsTarget target, CancellationToken cancellationToken)
    {
        if (mtls?.Certificate is null)
            throw new System.Security.Authentication.AuthenticationException("this workload holds no certificate yet");
        Microsoft.AspNetCore.Connections.ConnectionContext connection;
        Socket? socket = null;
        if (loops is not null)
        {
            connection = await loops.ConnectAsync(endpoint, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            socket = await ConnectSocketAsync(endpoint, cancellationToken).ConfigureAwait(false);
            connection = _sockets!.Create(socket);
        }
        try
        {
            return new ConnectionUpstream(await mtls.ConnectAsync(connection, target.Protocol, target.Peer, cancellationToken).ConfigureAwait(false), socket);
        }
        catch
        {
            connection.Abort();
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public void Dispose() => _sockets?.Dispose();
}
