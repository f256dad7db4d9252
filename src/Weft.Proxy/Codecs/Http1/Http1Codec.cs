using Microsoft.AspNetCore.Connections;
using Weft.Proxy.Config;
using Weft.Proxy.Listeners;
using Weft.Proxy.Pipeline;

namespace Weft.Proxy.Codecs.Http1;

/// <summary>
/// The lean HTTP/1.1 codec's entry: Listeners/ConnectionDispatch hands it every HTTP connection that
/// does not open with the HTTP/2 preface (and the capture listener its HTTP/1 connections). It parses
/// strictly, fills the pipeline's request context and serves the answer; every request decision is the
/// pipeline's.
/// </summary>
internal sealed class Http1Codec(RuntimeState state, RequestPipeline pipeline, Http1Limits limits, Heartbeat heartbeat)
{
    public RuntimeState State { get; } = state;
    public RequestPipeline Pipeline { get; } = pipeline;
    public Http1Limits Limits { get; } = limits;
    public Heartbeat Heartbeat { get; } = heartbeat;

    public Task ServeAsync(ConnectionContext connection, ListenerBinding binding) =>
        new Http1Connection(this, connection, binding).RunAsync();
}
