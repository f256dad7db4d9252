using System.IO.Pipelines;
using Weft.Protocol.Discovery;
using Weft.Proxy.Upstream;
using Weft.Proxy.Config;
using Weft.Proxy.Routing;

namespace Weft.Proxy.Pipeline;

/// <summary>
/// One request as every step of the pipeline sees it, whatever codec it arrived on: what was asked
/// (filled by the codec), what the steps decided, and how it ended. A codec keeps one per connection
/// (HTTP/1.1) or makes one per stream, and resets it between requests.
/// </summary>
internal sealed class RequestContext
{
    // --- Filled by the codec.
    public ProxyRuntime Runtime = ProxyRuntime.Empty;
    public ListenerRuntime Listener = null!;
    public string Method = "GET";

    /// <summary>The path as routed and as the app receives it: normalized once (PathNormalizer), without the query.</summary>
    public string Path = "/";

    /// <summary>"" or "?..." exactly as received.</summary>
    public string Query = "";

    public HeaderView Headers = null!;

    /// <summary>The protocol label of metrics: "http", "http2" or "grpc".</summary>
    public string Protocol = "http";

    public bool IsGrpc;

    /// <summary>When the request's head was complete (Stopwatch timestamp).</summary>
    public long Started;

    // --- Decided by the steps.
    public SourceIdentity Source = SourceIdentity.None;

    /// <summary>Inbound over mTLS: the calling sidecar's verified identity; null: unauthenticated (or outbound).</summary>
    public Security.Mtls.PeerIdentity? PeerIdentity;

    public RouteRuntime? Route;
    public ClusterRuntime? Cluster;

    /// <summary>The endpoint that served the request, or the last one tried.</summary>
    public EndpointRuntime? Endpoint;

    /// <summary>The whole request's deadline for its response head (Stopwatch timestamp); 0 = none.</summary>
    public long Deadline;

    /// <summary>Upstream attempts made (connects that failed over included).</summary>
    public int Attempts;

    /// <summary>The upstream's answer, once its head arrived (the cluster client's result).</summary>
    public Upstream.UpstreamResponse? Upstream;

    /// <summary>The metrics series the previous request of this context counted in, and its labels: a repeat skips the lookup.</summary>
    public Telemetry.RequestSeries? LastSeries;
    public Telemetry.RequestLabels LastLabels;

    // --- How it ended.
    /// <summary>The status the client got (0: none, the client went away first).</summary>
    public int StatusCode;

    /// <summary>grpc-status as the upstream sent it, in headers or trailers ("" when none).</summary>
    public string GrpcStatus = "";

    public ResponseFlag Flag;

    /// <summary>Denied by an AuthorizationPolicy: the 403's message (null: STRICT mTLS's own).</summary>
    public string? Denial;

    /// <summary>What failed, when something did (for logs and the endpoint's last error).</summary>
    public Exception? Error;

    private string? _authority;

    public bool IsInbound => Listener.Direction == Direction.Inbound;

    /// <summary>Host (HTTP/1.1) or :authority (HTTP/2, which Kestrel shows as Host).</summary>
    public string Authority
    {
        get => _authority ??= Headers.Get("Host") ?? "";
        set => _authority = value;
    }

    public void Reset()
    {
        Source = SourceIdentity.None;
        PeerIdentity = null;
        Route = null;
        Cluster = null;
        Endpoint = null;
        Deadline = 0;
        Attempts = 0;
        Upstream = null;
        StatusCode = 0;
        GrpcStatus = "";
        Flag = ResponseFlag.None;
        Denial = null;
        Error = null;
        _authority = null;
        IsGrpc = false;
    }
}

/// <summary>The head of an answer on its way to the client: from an upstream, after the route's response modifiers.</summary>
internal sealed class ResponseHead
{
    public int Status;
    public HeaderView Headers = null!;

    /// <summary>The body's length when the upstream said it; -1 when it did not (chunked, close-delimited, HTTP/2 without content-length).</summary>
    public long ContentLength = -1;

    /// <summary>False for a response that has no body by its nature (1xx, 204, 304, an answer to HEAD).</summary>
    public bool HasBody = true;
}

/// <summary>What waits on an upstream for a client, and must stop when the client is gone.</summary>
internal interface IAbortWatcher
{
    /// <summary>
    /// <paramref name="client"/> gave up. The watcher may already serve another client's request (the
    /// news can arrive just after the watch ended), so it acts only if <paramref name="client"/> is
    /// still the one it serves.
    /// </summary>
    void OnClientAborted(IDownstream client);
}

/// <summary>
/// The client's side of one request, as the codec it arrived on serves it: the request body to read,
/// and where the answer goes. The pipeline and the cluster client only ever talk to a request through
/// this, so every step is written once for every codec.
/// </summary>
internal interface IDownstream
{
    /// <summary>The request body, decoded (no HTTP/1.1 chunk framing); null when the request has none.</summary>
    PipeReader? RequestBody { get; }

    /// <summary>The request body's length when the client said it; -1 when unknown (chunked, HTTP/2 without content-length).</summary>
    long RequestBodyLength { get; }

    /// <summary>The protocol an HTTP/1.1 Upgrade offers (WebSocket...), or null (<see cref="UpgradeOffer"/>).</summary>
    string? UpgradeOffer { get; }

    /// <summary>The client's side gave up (its connection reset or the stream was cancelled).</summary>
    CancellationToken Aborted { get; }

    /// <summary>
    /// Tells <paramref name="watcher"/> when the client gives up, until called again with null: an
    /// exchange waiting on its upstream then stops at once (the app is told by a reset).
    /// </summary>
    void WatchAborted(IAbortWatcher? watcher);

    /// <summary>Once an upstream is ready for the body: an HTTP/1.1 client waiting on Expect: 100-continue gets its 100.</summary>
    ValueTask<bool> UpstreamReadyAsync();

    bool ResponseStarted { get; }

    /// <summary>Writes the head; it leaves with the body's first flush (or at the end).</summary>
    void WriteResponseHead(ResponseHead head);

    /// <summary>The response body, framed as this codec needs; valid after <see cref="WriteResponseHead"/>.</summary>
    IBodySink ResponseBody { get; }

    /// <summary>Trailers of the upstream's answer (gRPC's grpc-status); codecs that cannot carry them drop them.</summary>
    void WriteTrailers(HeaderView trailers);

    /// <summary>After a 101: writes it and hands over the client's raw connection (null: the client is gone or cannot upgrade).</summary>
    ValueTask<IDuplexPipe?> UpgradeAsync(ResponseHead head);

    /// <summary>An answer of the proxy's own (see <see cref="LocalReplies"/>); only before the response started.</summary>
    ValueTask WriteLocalReplyAsync(int status, string reason, string message);

    /// <summary>The response started and cannot be completed: the client must see a reset, never a clean end.</summary>
    void Reset();
}
