using System.Buffers;
using System.Net;
using System.Net.Http.Headers;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Primitives;
using Weft.Proxy.Balancing;
using Weft.Proxy.Routing;

namespace Weft.Proxy.Http;

/// <summary>
/// Sends one incoming request to one endpoint of a cluster and streams the answer back. Never throws
/// for network faults: the result says which side failed. A connect failure moves on to the next
/// endpoint (each at most once): a request that never reached an app is safe to send elsewhere.
/// An HTTP/1.1 Upgrade goes out with its Connection and Upgrade headers; a 101 turns the exchange
/// into an <see cref="UpgradeTunnel"/>, any other answer is relayed as usual.
/// </summary>
internal sealed class HttpForwarder
{
    private static readonly Version Http11 = new(1, 1);
    private static readonly Version Http20 = new(2, 0);

    private readonly UpstreamClients _clients;
    private readonly ILogger _logger;

    public HttpForwarder(UpstreamClients clients, ILogger logger)
    {
        _clients = clients;
        _logger = logger;
    }

    public async ValueTask<ForwardOutcome> ForwardAsync(HttpContext context, ClusterRuntime cluster, HeaderModifierRuntime[] responseModifiers)
    {
        // Kestrel finds a bodiless HTTP/1.1 request with Connection: upgrade upgradable; its body is
        // then the raw connection, which must not be read before a 101 (so no content, whatever it offers).
        var upgradeFeature = context.Features.Get<IHttpUpgradeFeature>();
        var upgradable = upgradeFeature is { IsUpgradableRequest: true };
        var upgrade = upgradable ? UpgradeTunnel.Offered(context.Request) : null;
        if (upgrade is not null && cluster.UsesHttp2)
            return new ForwardOutcome(ForwardResult.UpgradeUnsupported, null, "", null);
        var endpoints = cluster.Endpoints;
        if (endpoints.Length == 0)
            return new ForwardOutcome(ForwardResult.NoEndpoints, null, "", null);

        var content = upgradable ? null : CreateContent(context);
        var request = CreateRequest(context, content, cluster.UsesHttp2);
        if (upgrade is not null)
        {
            request.Headers.TryAddWithoutValidation("Connection", "Upgrade");
            request.Headers.TryAddWithoutValidation("Upgrade", upgrade);
        }
        var target = RequestTarget(context);
        var start = cluster.Balancer.PickStart(endpoints.Length);

        return await SendAsync(context, cluster, responseModifiers, content, request, target, start,
            upgrade is null ? null : upgradeFeature).ConfigureAwait(false);
    }

    private async ValueTask<ForwardOutcome> SendAsync(HttpContext context, ClusterRuntime cluster, HeaderModifierRuntime[] responseModifiers,
        StreamingRequestContent? content, HttpRequestMessage request, string target, int start, IHttpUpgradeFeature? upgrade)
    {
        var endpoints = cluster.Endpoints;
        var aborted = context.RequestAborted;
        var invoker = _clients.For(cluster.ConnectTimeout);
        try
        {
            HttpResponseMessage response;
            EndpointRuntime endpoint;
            for (var attempt = 0; ; attempt++)
            {
                endpoint = endpoints[(start + attempt) % endpoints.Length];
                request.RequestUri = new Uri(endpoint.BaseUri + target, UriKind.Absolute);
                endpoint.Stats.RecordRequest();
                try
                {
                    response = await invoker.SendAsync(request, aborted).ConfigureAwait(false);
                    break;
                }
                catch (Exception ex)
                {
                    var result = ClassifySendFailure(ex, aborted, content);
                    endpoint.RecordForwardFailure(result, result == ForwardResult.RequestBodyFailed ? content!.ClientReadError : ex, _logger);
                    if (result == ForwardResult.ConnectFailed && attempt + 1 < endpoints.Length && content?.Started != true)
                    {
                        var retry = CloneForRetry(request);
                        // The content moves to the new message; the old one must not dispose it.
                        request.Content = null;
                        request.Dispose();
                        request = retry;
                        continue;
                    }
                    return new ForwardOutcome(result, endpoint, "", ex);
                }
            }

            using (response)
            {
                if (response.StatusCode == HttpStatusCode.SwitchingProtocols)
                    return await TunnelAsync(context, upgrade, response, responseModifiers, endpoint, aborted).ConfigureAwait(false);
                var grpcStatus = CopyResponseHead(context, response, responseModifiers, upgraded: false);
                var (bodyResult, bodyError) = await CopyResponseBodyAsync(context, response, aborted).ConfigureAwait(false);
                if (bodyResult != ForwardResult.Success)
                {
                    if (bodyResult == ForwardResult.ResponseBodyFailed)
                        endpoint.RecordForwardFailure(bodyResult, bodyError, _logger);
                    // Headers may be out already; a truncated response must not look complete.
                    context.Abort();
                    return new ForwardOutcome(bodyResult, endpoint, grpcStatus, bodyError);
                }
                if (cluster.UsesHttp2)
                    grpcStatus = CopyTrailers(context, response) ?? grpcStatus;
                return new ForwardOutcome(ForwardResult.Success, endpoint, grpcStatus, null);
            }
        }
        finally
        {
            // No read of the client's body may outlive the request (StreamingRequestContent.StopAsync).
            if (content is not null)
                await content.StopAsync().ConfigureAwait(false);
            // Disposes the message that was sent last (with its content); earlier ones were disposed on retry.
            request.Dispose();
        }
    }

    // Cold: after a 101 the exchange is a tunnel until either side ends. A 101 to a request that offered
    // no upgrade is the upstream's fault (the lean path answers it the same way).
    private async ValueTask<ForwardOutcome> TunnelAsync(HttpContext context, IHttpUpgradeFeature? upgrade, HttpResponseMessage response,
        HeaderModifierRuntime[] responseModifiers, EndpointRuntime endpoint, CancellationToken aborted)
    {
        if (upgrade is null)
        {
            endpoint.RecordForwardFailure(ForwardResult.UpstreamReset, null, _logger);
            return new ForwardOutcome(ForwardResult.UpstreamReset, endpoint, "", null);
        }
        Stream upstream;
        try
        {
            // SocketsHttpHandler hands over the connection itself (bytes after the 101 head included).
            upstream = await response.Content.ReadAsStreamAsync(aborted).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            var result = aborted.IsCancellationRequested ? ForwardResult.ClientAborted : ForwardResult.UpstreamReset;
            endpoint.RecordForwardFailure(result, ex, _logger);
            return new ForwardOutcome(result, endpoint, "", ex);
        }
        await using (upstream.ConfigureAwait(false))
        {
            CopyResponseHead(context, response, responseModifiers, upgraded: true);
            Stream client;
            try
            {
                // Kestrel writes the 101 (status, our headers, Connection: Upgrade) and hands over the client's bytes.
                client = await upgrade.UpgradeAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException or InvalidOperationException)
            {
                return new ForwardOutcome(ForwardResult.ClientAborted, endpoint, "", ex);
            }
            await UpgradeTunnel.RunAsync(client, upstream, aborted).ConfigureAwait(false);
        }
        return new ForwardOutcome(ForwardResult.Success, endpoint, "", null);
    }

    private static ForwardResult ClassifySendFailure(Exception ex, CancellationToken aborted, StreamingRequestContent? content)
    {
        if (aborted.IsCancellationRequested)
            return ForwardResult.ClientAborted;
        if (content is { ClientReadFailed: true })
            return ForwardResult.RequestBodyFailed;
        for (var e = ex; e is not null; e = e.InnerException)
        {
            if (e is UpstreamConnectException)
                return ForwardResult.ConnectFailed;
        }
        return ForwardResult.UpstreamReset;
    }

    private static StreamingRequestContent? CreateContent(HttpContext context)
    {
        var detection = context.Features.Get<IHttpRequestBodyDetectionFeature>();
        return detection is { CanHaveBody: false } ? null : new StreamingRequestContent(context.Request.Body, context.RequestAborted);
    }

    /// <summary>The path and query as the client sent them, so the app sees exactly what was asked.</summary>
    private static string RequestTarget(HttpContext context)
    {
        var raw = context.Features.Get<IHttpRequestFeature>()?.RawTarget;
        if (raw is { Length: > 0 } && raw[0] == '/')
            return raw;
        var request = context.Request;
        return request.PathBase.Add(request.Path).ToUriComponent() + request.QueryString.ToUriComponent();
    }

    private static HttpRequestMessage CreateRequest(HttpContext context, StreamingRequestContent? content, bool http2)
    {
        var incoming = context.Request;
        var request = new HttpRequestMessage
        {
            Method = HttpMethodFor(incoming.Method),
            Content = content,
            Version = http2 ? Http20 : Http11,
            VersionPolicy = http2 ? HttpVersionPolicy.RequestVersionExact : HttpVersionPolicy.RequestVersionOrLower,
        };
        var headers = incoming.Headers;
        var connectionTokens = headers.Connection.Count == 0 ? null : HopByHopHeaders.ConnectionTokens(headers.Connection);
        foreach (var header in headers)
        {
            var name = header.Key;
            if (name.Length == 0 || name[0] == ':' || HopByHopHeaders.ShouldDrop(name, header.Value))
                continue;
            if (connectionTokens is not null && connectionTokens.Contains(name))
                continue;
            var value = header.Value;
            if (value.Count == 1)
            {
                var single = value[0] ?? "";
                if (!request.Headers.TryAddWithoutValidation(name, single))
                    content?.Headers.TryAddWithoutValidation(name, single);
            }
            else
            {
                IEnumerable<string?> many = value;
                if (!request.Headers.TryAddWithoutValidation(name, many!))
                    content?.Headers.TryAddWithoutValidation(name, many!);
            }
        }
        return request;
    }

    private static HttpMethod HttpMethodFor(string method) => method switch
    {
        "GET" => HttpMethod.Get,
        "POST" => HttpMethod.Post,
        "PUT" => HttpMethod.Put,
        "DELETE" => HttpMethod.Delete,
        "HEAD" => HttpMethod.Head,
        "PATCH" => HttpMethod.Patch,
        "OPTIONS" => HttpMethod.Options,
        _ => HttpMethod.Parse(method),
    };

    // Cold: a request message can be sent once; a retry after a connect failure needs a fresh one.
    private static HttpRequestMessage CloneForRetry(HttpRequestMessage old)
    {
        var next = new HttpRequestMessage
        {
            Method = old.Method,
            Content = old.Content,
            Version = old.Version,
            VersionPolicy = old.VersionPolicy,
        };
        foreach (var header in old.Headers.NonValidated)
            next.Headers.TryAddWithoutValidation(header.Key, header.Value);
        return next;
    }

    /// <summary>
    /// Status and headers (minus hop-by-hop, but a 101 keeps the Upgrade it agreed to), then the route's
    /// response modifiers. Returns grpc-status if in headers.
    /// </summary>
    private static string CopyResponseHead(HttpContext context, HttpResponseMessage response, HeaderModifierRuntime[] modifiers, bool upgraded)
    {
        var outgoing = context.Response;
        outgoing.StatusCode = (int)response.StatusCode;
        var target = outgoing.Headers;
        HashSet<string>? connectionTokens = null;
        if (response.Headers.NonValidated.TryGetValues("Connection", out var connection))
            connectionTokens = HopByHopHeaders.ConnectionTokens(ToStringValues(connection));
        var grpcStatus = "";
        foreach (var header in response.Headers.NonValidated)
        {
            var agreedUpgrade = upgraded && string.Equals(header.Key, "Upgrade", StringComparison.OrdinalIgnoreCase);
            if (!agreedUpgrade && (HopByHopHeaders.ShouldDropResponse(header.Key) || (connectionTokens is not null && connectionTokens.Contains(header.Key))))
                continue;
            var value = ToStringValues(header.Value);
            target[header.Key] = value;
            if (string.Equals(header.Key, "grpc-status", StringComparison.OrdinalIgnoreCase))
                grpcStatus = value.ToString();
        }
        foreach (var header in response.Content.Headers.NonValidated)
        {
            if (!HopByHopHeaders.ShouldDropResponse(header.Key))
                target[header.Key] = ToStringValues(header.Value);
        }
        if (modifiers.Length != 0)
            HeaderModifierRuntime.Apply(modifiers, target);
        return grpcStatus;
    }

    private static StringValues ToStringValues(HeaderStringValues values)
    {
        if (values.Count == 1)
            return values.ToString();
        var array = new string[values.Count];
        var i = 0;
        foreach (var v in values)
            array[i++] = v;
        return array;
    }

    private static async ValueTask<(ForwardResult, Exception?)> CopyResponseBodyAsync(HttpContext context, HttpResponseMessage response, CancellationToken aborted)
    {
        Stream source;
        try
        {
            source = await response.Content.ReadAsStreamAsync(aborted).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            return (aborted.IsCancellationRequested ? ForwardResult.ClientAborted : ForwardResult.ResponseBodyFailed, ex);
        }

        var body = context.Response.Body;
        var headersSent = false;
        var buffer = ArrayPool<byte>.Shared.Rent(StreamingRequestContent.BufferSize);
        try
        {
            while (true)
            {
                int read;
                try
                {
                    var pending = source.ReadAsync(buffer.AsMemory(), aborted);
                    if (!pending.IsCompleted && !headersSent)
                    {
                        // The upstream is slow to send body bytes (a stream, a long poll): let the client see the headers now.
                        headersSent = true;
                        await body.FlushAsync(aborted).ConfigureAwait(false);
                    }
                    read = await pending.ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    return (aborted.IsCancellationRequested ? ForwardResult.ClientAborted : ForwardResult.ResponseBodyFailed, ex);
                }
                if (read == 0)
                    return (ForwardResult.Success, null);
                headersSent = true;
                try
                {
                    await body.WriteAsync(buffer.AsMemory(0, read), aborted).ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    return (ForwardResult.ClientAborted, ex);
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Response trailers (gRPC's grpc-status lives there); returns grpc-status when present.</summary>
    private static string? CopyTrailers(HttpContext context, HttpResponseMessage response)
    {
        var trailers = response.TrailingHeaders;
        if (trailers.NonValidated.Count == 0)
            return null;
        var feature = context.Features.Get<IHttpResponseTrailersFeature>();
        var target = feature?.Trailers is { IsReadOnly: false } t ? t : null;
        string? grpcStatus = null;
        foreach (var header in trailers.NonValidated)
        {
            var value = ToStringValues(header.Value);
            if (string.Equals(header.Key, "grpc-status", StringComparison.OrdinalIgnoreCase))
                grpcStatus = value.ToString();
            if (target is not null && !HopByHopHeaders.ShouldDropResponse(header.Key))
                target[header.Key] = value;
        }
        return grpcStatus;
    }
}
