using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Weft.Protocol.Discovery;
using Weft.Proxy.Codecs.Tcp;
using Weft.Proxy.Config;
using Weft.Proxy.Listeners;
using Weft.Proxy.Upstream;

namespace Weft.Proxy.Interception;

/// <summary>
/// Serves a connection that iptables redirected to a capture listener: reads where it was going
/// (SO_ORIGINAL_DST), and serves it as that Service port's listener would: TCP through the forwarder,
/// HTTP through the pipeline (which picks the per-destination listener from the connection's items).
/// A destination no Service owns is passed through to itself, or closed, as the listener says.
/// </summary>
internal sealed class CaptureDispatch(RuntimeState state, TcpProxy tcp, ConnectionDispatch dispatch, Connector connector, ILogger logger)
{
    private const string ItemKey = "weft.capture.destination";
    private static readonly TimeSpan PassthroughConnectTimeout = TimeSpan.FromSeconds(5);

    public async Task HandleAsync(ConnectionContext connection, int port, ConnectionDelegate http)
    {
        var runtime = state.Current;
        if (!runtime.ListenersByPort.TryGetValue(port, out var listener) || listener.Capture is not { } table)
            return;
        var socket = connection.Features.Get<IConnectionSocketFeature>()?.Socket;
        var original = socket is null ? null : OriginalDestinationReader.Of(socket);
        // Dialled directly, not redirected: there is nowhere else to go, and passing it "through" to
        // ourselves would loop.
        if (original is null || original.Equals(connection.LocalEndPoint))
        {
            CaptureLog.NotRedirected(logger, port);
            return;
        }
        var target = table.Find(original);
        if (target is null)
        {
            if (table.Unknown == UnknownDestination.Passthrough)
                await PassthroughAsync(connection, original).ConfigureAwait(false);
            else
                CaptureLog.Rejected(logger, original.ToString());
            return;
        }
        if (target.Protocol == Weft.Protocol.Discovery.Protocol.Tcp)
        {
            await tcp.ForwardAsync(connection, target, target.TcpCluster).ConfigureAwait(false);
            return;
        }
        // HTTP: the same codecs as any listener, bound to this destination's listener (resolved per request).
        var binding = new ListenerBinding(port, original);
        if (await dispatch.DetectHttpAsync(connection, target).ConfigureAwait(false) == DetectedProtocol.Http2)
        {
            connection.Items[ItemKey] = original;
            await dispatch.ServeHttp2Async(connection, binding, http).ConfigureAwait(false);
            return;
        }
        connection.Items[ItemKey] = original;
        await dispatch.ServeHttp1Async(connection, binding, http).ConfigureAwait(false);
    }

    /// <summary>The original destination of a captured connection a Kestrel request arrived on (null: not captured).</summary>
    public static IPEndPoint? OriginalDestinationOf(HttpContext context) =>
        context.Features.Get<IConnectionItemsFeature>()?.Items.TryGetValue(ItemKey, out var value) == true ? value as IPEndPoint : null;

    private async Task PassthroughAsync(ConnectionContext connection, IPEndPoint original)
    {
        UpstreamTransport upstream;
        try
        {
            upstream = await connector.ConnectAsync(original.Address.ToString(), original.Port, PassthroughConnectTimeout, halfClose: true).ConfigureAwait(false);
        }
        catch (UpstreamConnectException ex)
        {
            CaptureLog.PassthroughFailed(logger, original.ToString(), ex);
            return;
        }
        await tcp.SpliceAsync(connection, upstream, ((IPEndPoint)connection.LocalEndPoint!).Port).ConfigureAwait(false);
    }
}

internal static partial class CaptureLog
{
    [LoggerMessage(301, LogLevel.Debug, "Capture port {Port}: a connection that was not redirected; closed")]
    public static partial void NotRedirected(ILogger logger, int port);

    [LoggerMessage(302, LogLevel.Debug, "Capture: {Destination} is no Service port; closed (unknown_destination REJECT)")]
    public static partial void Rejected(ILogger logger, string destination);

    [LoggerMessage(303, LogLevel.Debug, "Capture: passthrough to {Destination} failed")]
    public static partial void PassthroughFailed(ILogger logger, string destination, Exception exception);
}
