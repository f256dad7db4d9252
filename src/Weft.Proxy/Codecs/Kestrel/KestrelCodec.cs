using System.Diagnostics;
using System.IO.Pipelines;
using System.Text;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Weft.Proxy.Config;
using Weft.Proxy.Listeners;
using Weft.Proxy.Pipeline;

namespace Weft.Proxy.Codecs.Kestrel;

/// <summary>
/// Kestrel as a codec: HTTP/2 (h2c) on every HTTP listener, and HTTP/1.1 where the lean codec is off.
/// Each request becomes the pipeline's request context; its answer goes back through Kestrel's response.
/// What only Kestrel does stays here: `Connection: close` while draining (HTTP/1.1), the per-request
/// data rates, the HTTP/2 reset budget.
/// </summary>
internal sealed class KestrelCodec(RuntimeState state, RequestPipeline pipeline)
{
    // A reference, replaced whole: requests on other threads read either the old pair or the new one.
    private sealed record LimitRate(ProxyLimits Limits, MinDataRate? Rate);
    private LimitRate _rate = new(ProxyLimits.Default, RateOf(ProxyLimits.Default));

    public async Task HandleAsync(HttpContext http, ListenerBinding binding)
    {
        var started = Stopwatch.GetTimestamp();
        var runtime = state.Current;
        var request = http.Request;
        var http2 = HttpProtocol.IsHttp2(request.Protocol);
        // HTTP/1.1 only (HTTP/2 ends streams, not connections): a draining proxy, and after CONNECT's
        // 405, the bytes the client sends next are its tunnel's, not a request: close, as the lean codec does.
        if (!http2 && (state.IsDraining || HttpMethods.IsConnect(request.Method)))
            CloseConnectionAfterResponse(http);
        var down = new KestrelDownstream(http);
        var listener = binding.Resolve(runtime);
        if (listener is null)
        {
            await RequestPipeline.RefuseUnboundAsync(down).ConfigureAwait(false);
            return;
        }
        var ctx = new RequestContext
        {
            Runtime = runtime,
            Listener = listener,
            Started = started,
            Method = request.Method,
            Headers = new DictionaryHeaderView(request.Headers),
            PeerIdentity = binding.Peer,
        };
        ctx.IsGrpc = request.ContentType is { } type && GrpcContentType.Is(type);
        ctx.Protocol = ctx.IsGrpc ? "grpc" : http2 ? "http2" : "http";
        if (!ResolveTarget(http, ctx, runtime.Limits.KeepAmbiguousPaths))
            ctx.Flag = ResponseFlag.BadPath;
        ApplyDataRates(http, ctx, runtime.Limits, http2);

        await pipeline.ServeAsync(ctx, down).ConfigureAwait(false);
        if (http2)
            Http2ResetGuard.OnStreamEnded(http, ctx.Flag == ResponseFlag.ClientAborted, Stopwatch.GetTimestamp() - started);
    }

    /// <summary>The raw target (what the client sent, not Kestrel's decoding), split and normalized as every codec does it.</summary>
    private static bool ResolveTarget(HttpContext http, RequestContext ctx, bool keepAmbiguous)
    {
        var raw = http.Features.Get<IHttpRequestFeature>()?.RawTarget;
        if (string.IsNullOrEmpty(raw))
            raw = http.Request.Path.ToUriComponent() + http.Request.QueryString.ToUriComponent();
        var bytes = Encoding.Latin1.GetBytes(raw);
        if (!RequestTarget.TrySplit(bytes, out var path, out var query, out var authority))
            return false;
        var normalized = RequestTarget.Normalize(bytes.AsSpan(path), keepAmbiguous, out _);
        ctx.Path = normalized ?? "/";
        ctx.Query = Encoding.Latin1.GetString(bytes.AsSpan(query));
        if (authority.End.Value > authority.Start.Value)
            ctx.Headers.Set("Host", Encoding.Latin1.GetString(bytes.AsSpan(authority)));
        return normalized is not null;
    }

    /// <summary>
    /// Kestrel enforces the minimum body data rates: HTTP/1.1 per request (gRPC streams exempt), HTTP/2 by
    /// the listener's limits (Kestrel lets an HTTP/2 request only turn its own off, which gRPC calls do).
    /// </summary>
    private void ApplyDataRates(HttpContext http, RequestContext ctx, ProxyLimits limits, bool http2)
    {
        var rate = RateFor(limits);
        if (http.Features.Get<IHttpMinRequestBodyDataRateFeature>() is { } requestRate)
        {
            if (ctx.IsGrpc)
                requestRate.MinDataRate = null;
            else if (!http2)
                requestRate.MinDataRate = rate;
        }
        if (!http2 && http.Features.Get<IHttpMinResponseDataRateFeature>() is { } responseRate)
            responseRate.MinDataRate = rate;
    }

    private MinDataRate? RateFor(ProxyLimits limits)
    {
        var cached = _rate;
        if (ReferenceEquals(cached.Limits, limits))
            return cached.Rate;
        var rate = RateOf(limits);
        _rate = new LimitRate(limits, rate);
        return rate;
    }

    /// <summary>Kestrel's form of the minimum rate; its grace must exceed its 1 s heartbeat, so a shorter one is that.</summary>
    internal static MinDataRate? RateOf(ProxyLimits limits) => limits.MinBodyBytesPerSecond <= 0
        ? null
        : new MinDataRate(limits.MinBodyBytesPerSecond, limits.MinBodyRateGrace > KestrelHeartbeat ? limits.MinBodyRateGrace : KestrelHeartbeat + TimeSpan.FromMilliseconds(1));

    private static readonly TimeSpan KestrelHeartbeat = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Draining: an HTTP/1 client is told to take its next request elsewhere. Set when the response
    /// starts, so error answers (which clear headers) carry it too. HTTP/2 learns it from Kestrel's GOAWAY.
    /// A 101 keeps its Connection: Upgrade: the connection is a tunnel from then on.
    /// </summary>
    private static void CloseConnectionAfterResponse(HttpContext context) =>
        context.Response.OnStarting(static s =>
        {
            var response = (HttpResponse)s;
            if (response.StatusCode != StatusCodes.Status101SwitchingProtocols)
                response.Headers.Connection = "close";
            return Task.CompletedTask;
        }, context.Response);
}

/// <summary>One request's client side on Kestrel: its body reader, and its response (headers, body writer, trailers, upgrade).</summary>
internal sealed class KestrelDownstream : IDownstream
{
    private readonly HttpContext _http;
    private readonly IHttpUpgradeFeature? _upgrade;
    private readonly PipeBodySink _body;
    private bool _headWritten;

    public KestrelDownstream(HttpContext http)
    {
        _http = http;
        var request = http.Request;
        var upgrade = http.Features.Get<IHttpUpgradeFeature>();
        // Kestrel finds an HTTP/1.1 request with Connection: upgrade upgradable (and refuses one with a
        // body itself); its body is then the raw connection, which must not be read before a 101.
        if (upgrade is { IsUpgradableRequest: true })
        {
            _upgrade = upgrade;
            var offered = request.Headers.Upgrade.ToString();
            var connectionUpgrade = Pipeline.UpgradeOffer.NamesUpgrade(request.Headers.Connection.ToString());
            var hasBody = request.ContentLength > 0 || request.Headers.ContainsKey("Transfer-Encoding");
            UpgradeOffer = Pipeline.UpgradeOffer.IsForwarded(HttpProtocol.IsHttp11(request.Protocol), connectionUpgrade, offered, hasBody)
                ? offered.Trim()
                : null;
        }
        var detection = http.Features.Get<IHttpRequestBodyDetectionFeature>();
        RequestBody = _upgrade is null && detection is not { CanHaveBody: false } ? new KestrelBodyReader(request.BodyReader) : null;
        RequestBodyLength = request.ContentLength ?? -1;
        _body = new PipeBodySink(http.Response.BodyWriter);
    }

    public PipeReader? RequestBody { get; }

    public long RequestBodyLength { get; }

    public string? UpgradeOffer { get; }

    public CancellationToken Aborted => _http.RequestAborted;

    private CancellationTokenRegistration _abortWatch;
    private IAbortWatcher? _watcher;

    public void WatchAborted(IAbortWatcher? watcher)
    {
        _abortWatch.Dispose();
        Volatile.Write(ref _watcher, watcher);
        _abortWatch = watcher is null ? default : _http.RequestAborted.UnsafeRegister(static s => ((KestrelDownstream)s!).OnAborted(), this);
    }

    private void OnAborted() => Volatile.Read(ref _watcher)?.OnClientAborted(this);

    public bool ResponseStarted => _headWritten || _http.Response.HasStarted;

    public IBodySink ResponseBody => _body;

    /// <summary>Kestrel answers Expect: 100-continue itself on the body's first read.</summary>
    public ValueTask<bool> UpstreamReadyAsync() => ValueTask.FromResult(true);

    public void WriteResponseHead(ResponseHead head)
    {
        _headWritten = true;
        var response = _http.Response;
        response.StatusCode = head.Status;
        head.Headers.CopyTo(new ResponseHeaders(response.Headers), toHttp2: false);
        if (head.ContentLength >= 0 && head.HasBody)
            response.ContentLength = head.ContentLength;
    }

    public void WriteTrailers(HeaderView trailers)
    {
        var feature = _http.Features.Get<IHttpResponseTrailersFeature>();
        if (feature?.Trailers is not { IsReadOnly: false } target)
            return;
        trailers.CopyTo(new ResponseHeaders(target), toHttp2: false);
    }

    public async ValueTask<IDuplexPipe?> UpgradeAsync(ResponseHead head)
    {
        if (_upgrade is null)
            return null;
        _headWritten = true;
        var response = _http.Response;
        response.StatusCode = StatusCodes.Status101SwitchingProtocols;
        head.Headers.CopyTo(new ResponseHeaders(response.Headers), toHttp2: false);
        response.Headers.Upgrade = head.Headers.Get("Upgrade") is { Length: > 0 } agreed ? agreed : UpgradeOffer;
        Stream client;
        try
        {
            // Kestrel writes the 101 (status, our headers, Connection: Upgrade) and hands over the client's bytes.
            client = await _upgrade.UpgradeAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or InvalidOperationException)
        {
            return null;
        }
        return new StreamPipe(client);
    }

    public async ValueTask WriteLocalReplyAsync(int status, string reason, string message)
    {
        var response = _http.Response;
        if (response.HasStarted)
        {
            _http.Abort();
            return;
        }
        response.Clear();
        response.StatusCode = status;
        response.Headers[LocalReplies.ReasonHeader] = reason;
        response.ContentType = "text/plain; charset=utf-8";
        if (HttpMethods.IsHead(_http.Request.Method))
        {
            // The length the answer would have, and no body (Kestrel sends none for HEAD anyway).
            response.ContentLength = Encoding.UTF8.GetByteCount(message);
            return;
        }
        try
        {
            await response.WriteAsync(message, _http.RequestAborted).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException)
        {
            // The client left while we explained why; nothing more to do for it.
        }
    }

    /// <summary>HTTP/2: RST_STREAM; HTTP/1.1: the connection is reset.</summary>
    public void Reset() => _http.Abort();

    /// <summary>Fields into Kestrel's header dictionary (a value appended to the ones of the same name).</summary>
    private sealed class ResponseHeaders(IHeaderDictionary headers) : IHeaderSink
    {
        public void Add(string name, string value) =>
            headers[name] = headers.TryGetValue(name, out var existing) ? Microsoft.Extensions.Primitives.StringValues.Concat(existing, value) : value;
    }

    /// <summary>The client's side of an upgraded HTTP/1.1 connection (Kestrel hands it over as a Stream).</summary>
    private sealed class StreamPipe(Stream stream) : IDuplexPipe
    {
        public PipeReader Input { get; } = PipeReader.Create(stream, new StreamPipeReaderOptions(leaveOpen: true));
        public PipeWriter Output { get; } = PipeWriter.Create(stream, new StreamPipeWriterOptions(leaveOpen: true));
    }
}
