using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Weft.Proxy.Config;

namespace Weft.Proxy.Http1;

/// <summary>
/// The lean HTTP/1.1 path's entry: Listeners/ProtocolDetection hands it every HTTP-kind connection
/// that does not open with the HTTP/2 preface. It serves the connection itself (parse, route,
/// forward over pooled upstream connections) and hands it to Kestrel's HTTP/1 pipeline
/// (<c>fallback</c>) at a request boundary when a request needs what only that path does: an HTTP/2
/// or gRPC cluster, a target Kestrel must normalize, CONNECT.
/// </summary>
internal sealed class Http1ConnectionHandler : IDisposable
{
    public Http1ConnectionHandler(RuntimeState state, ProxyPipeline pipeline, ProxyIdentity identity, Http1Limits limits,
        TimeProvider time, bool inlineCompletions, Func<bool> draining, ILogger logger, Transport.LoopTransport? loops = null)
    {
        State = state;
        Pipeline = pipeline;
        Limits = limits;
        Draining = draining;
        Logger = logger;
        Pool = new UpstreamPool(limits, time, inlineCompletions, logger, loops);
        var shortest = limits.HeaderReadTimeout < limits.KeepAliveTimeout ? limits.HeaderReadTimeout : limits.KeepAliveTimeout;
        var period = TimeSpan.FromTicks(Math.Clamp(shortest.Ticks / 4, TimeSpan.FromMilliseconds(50).Ticks, TimeSpan.FromSeconds(1).Ticks));
        Heartbeat = new Http1Heartbeat(time, period);
        SourceHeaderValue = identity.SourceHeaderValue;
        SourceHeaderLine = System.Text.Encoding.Latin1.GetBytes(ProxyPipeline.SourceHeader + ": " + identity.SourceHeaderValue + "\r\n");
    }

    public RuntimeState State { get; }
    public ProxyPipeline Pipeline { get; }
    public Http1Limits Limits { get; }
    public Func<bool> Draining { get; }
    public ILogger Logger { get; }
    public UpstreamPool Pool { get; }
    public Http1Heartbeat Heartbeat { get; }

    /// <summary>"x-weft-source: service;version;namespace\r\n", encoded once.</summary>
    public byte[] SourceHeaderLine { get; }

    public string SourceHeaderValue { get; }

    public Task HandleAsync(ConnectionContext connection, int listenerPort, ConnectionDelegate fallback) =>
        new Http1Connection(this, connection, listenerPort, fallback).RunAsync();

    public void Dispose()
    {
        Heartbeat.Dispose();
        Pool.Dispose();
    }
}
