using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;
using Weft.Protocol.Discovery;
using Weft.Proxy.Balancing;
using Weft.Proxy.Config;
using Weft.Proxy.Http;
using Weft.Proxy.Routing;

namespace Weft.Proxy.Http1;

/// <summary>
/// One client connection on the lean path: read a head (limits, timeouts), parse it strictly,
/// route it with the compiled runtime, forward it over a pooled upstream connection, stream the
/// response back, repeat while keep-alive holds. The same pipeline steps as ProxyPipeline, in the
/// same order; what it shares (identity parsing, backend pick, failure answers, metrics) it calls.
/// Per request it reuses its buffers, its head objects and its route-matching view: steady-state
/// forwarding of a repeated request allocates nothing on this path.
/// </summary>
internal sealed partial class Http1Connection
{
    private enum Next { Continue, Close, Fallback }

    private readonly Http1ConnectionHandler _handler;
    private readonly ConnectionContext _connection;
    private readonly int _port;
    private readonly ConnectionDelegate _fallback;
    private readonly PipeReader _input;
    private readonly PipeWriter _output;
    private readonly MessageHead _request = new();
    private readonly Http1Limits _limits;

    // Deadline (timestamp) of the current idle or header read; 0 = none. Checked by the heartbeat.
    private long _deadline;
    private volatile bool _timedOut;
    private volatile bool _closeRequested;
    private volatile bool _idle;
    private volatile bool _handedOver;

    // Route matching reads an HttpRequest, refilled per request. Matching is synchronous, so one per
    // thread serves every connection (one per connection cost ~1 KB each for thousands of connections).
    [ThreadStatic]
    private static DefaultHttpContext? t_view;
    private byte[] _lastTarget = [];
    private int _lastTargetLength = -1;
    private string _path = "/";
    private string _query = "";
    private byte[] _lastSource = [];
    private int _lastSourceLength = -1;
    private string _sourceValue = "";
    private HeaderDictionary? _responseHeaders;
    private RouteTableRuntime? _lastTable;
    private bool _tableMatchesHeaders;
    private bool _sourceReplaced;

    // Per request.
    private bool _responseStarted;
    private int _code;
    private EndpointRuntime? _endpoint;
    private bool _closeAfter;

    public Http1Connection(Http1ConnectionHandler handler, ConnectionContext connection, int port, ConnectionDelegate fallback)
    {
        _handler = handler;
        _connection = connection;
        _port = port;
        _fallback = fallback;
        _input = connection.Transport.Input;
        _output = connection.Transport.Output;
        _limits = handler.Limits;
    }

    public async Task RunAsync()
    {
        var lifetime = _connection.Features.Get<IConnectionLifetimeNotificationFeature>();
        var registration = lifetime is null
            ? default
            : lifetime.ConnectionClosedRequested.Register(static s => ((Http1Connection)s!).OnCloseRequested(), this);
        _handler.Heartbeat.Add(this);
        var next = Next.Close;
        try
        {
            do
            {
                next = await ServeOneAsync().ConfigureAwait(false);
            }
            while (next == Next.Continue);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
        {
            // The client went away mid-request; the socket is closed below.
        }
        finally
        {
            _handedOver = next == Next.Fallback;
            _handler.Heartbeat.Remove(this);
            registration.Dispose();
        }
        if (next == Next.Fallback)
        {
            // Kestrel's HTTP/1 pipeline reads the same, unconsumed request and keeps the connection.
            await _fallback(_connection).ConfigureAwait(false);
            return;
        }
        try
        {
            await _output.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException)
        {
            // Already closed.
        }
    }

    private void OnCloseRequested()
    {
        _closeRequested = true;
        if (_idle && !_handedOver)
            _input.CancelPendingRead();
    }

    public void CheckDeadline(long now)
    {
        var deadline = Volatile.Read(ref _deadline);
        if (deadline != 0 && now > deadline && !_handedOver)
        {
            _timedOut = true;
            _input.CancelPendingRead();
        }
    }

    private void SetDeadline(TimeSpan timeout) =>
        Volatile.Write(ref _deadline, _handler.Heartbeat.Now + _handler.Heartbeat.Ticks(timeout));

    private void ClearDeadline() => Volatile.Write(ref _deadline, 0);

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<Next> ServeOneAsync()
    {
        _request.Reset();
        _idle = true;
        SetDeadline(_limits.KeepAliveTimeout);
        // Draining alone does not close: a request may already be on its way on this connection, and it
        // is answered with Connection: close. Kestrel's close request (listener stop) ends idle ones.
        if (_closeRequested)
            return Next.Close;

        ReadResult result;
        long headEnd;
        while (true)
        {
            result = await _input.ReadAsync().ConfigureAwait(false);
            var buffer = result.Buffer;
            if (result.IsCanceled)
            {
                _input.AdvanceTo(buffer.Start);
                if (_timedOut && !_idle)
                    await RejectAsync(StatusCodes.Status408RequestTimeout, "request_timeout", "the request head did not arrive in time\n").ConfigureAwait(false);
                return Next.Close;
            }
            if (_idle && !buffer.IsEmpty)
            {
                _idle = false;
                SetDeadline(_limits.HeaderReadTimeout);
            }
            headEnd = Http1Parser.FindHeadEnd(buffer, _limits.MaxHeaderBlockBytes, _limits.MaxRequestTargetBytes, isRequest: true, out var limitError);
            if (limitError != HeadError.None)
            {
                _input.AdvanceTo(buffer.Start);
                await RejectAsync(limitError).ConfigureAwait(false);
                return Next.Close;
            }
            if (headEnd >= 0)
                break;
            if (result.IsCompleted)
            {
                _input.AdvanceTo(buffer.End);
                return Next.Close;
            }
            _input.AdvanceTo(buffer.Start, buffer.End);
        }
        ClearDeadline();
        var started = Stopwatch.GetTimestamp();

        var received = result.Buffer;
        var length = (int)headEnd;
        _request.EnsureCapacity(length);
        received.Slice(0, length).CopyTo(_request.Buffer);
        _request.Length = length;
        var error = Http1Parser.ParseRequest(_request, _limits);
        if (error == HeadError.None && _request.Chunked && !_request.ExpectContinue
            && !BodyCopy.ProbeChunked(received.Slice(length), _limits))
        {
            error = HeadError.BadRequest;
        }
        if (error != HeadError.None)
        {
            _input.AdvanceTo(received.Start);
            await RejectAsync(error).ConfigureAwait(false);
            return Next.Close;
        }

        var runtime = _handler.State.Current;                                       // 1
        if (!runtime.ListenersByPort.TryGetValue(_port, out var listener))           // 2
        {
            _input.AdvanceTo(received.GetPosition(length));
            _closeAfter = true;
            await WriteErrorAsync(StatusCodes.Status503ServiceUnavailable, "listener_draining", "this listener is being removed\n").ConfigureAwait(false);
            return Next.Close;
        }
        if (!IsPlainOriginForm(_request.Target) || _request.Method.SequenceEqual("CONNECT"u8))
        {
            _input.AdvanceTo(received.Start);
            return Next.Fallback;
        }

        var active = _handler.Pipeline.Metrics.Active(listener.Direction == Direction.Inbound);
        active.Increment();
        try
        {
            return await ServeAsync(received, length, listener, started).ConfigureAwait(false);
        }
        finally
        {
            active.Decrement();
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<Next> ServeAsync(ReadOnlySequence<byte> received, int length, ListenerRuntime listener, long started)
    {
        var source = ResolveSource(listener.Direction);                             // 3
        var request = PrepareView(listener.Routes);
        var route = listener.Routes.Select(request);                                 // 4
        var cluster = route is null ? null : _handler.Pipeline.PickCluster(route);   // 5
        if (cluster is { UsesHttp2: true })
        {
            _input.AdvanceTo(received.Start);
            return Next.Fallback;
        }
        _input.AdvanceTo(received.GetPosition(length));

        _responseStarted = false;
        _code = 0;
        _endpoint = null;
        _closeAfter = _request.ConnectionClose || (_request.Http10 && !_request.ConnectionKeepAlive);
        ForwardResult outcome;
        if (route is null)
            outcome = ForwardResult.NoRoute;
        else if (cluster is null)
            outcome = ForwardResult.BackendNotFound;
        else
            outcome = await ForwardAsync(route, cluster, listener.Direction).ConfigureAwait(false); // 6, 7

        if (outcome != ForwardResult.Success)                                        // 8
        {
            if (_responseStarted)
            {
                _connection.Abort();
                _closeAfter = true;
            }
            else if (ProxyPipeline.FailureAnswer(outcome, listener, cluster) is { } answer)
            {
                // The request body may be unread: after an error the connection cannot be reused.
                _closeAfter |= _request.HasBody;
                await WriteErrorAsync(answer.Status, answer.Reason, answer.Message).ConfigureAwait(false);
            }
            else
            {
                _closeAfter = true;
            }
        }
        _handler.Pipeline.Record(listener, source, cluster, _endpoint, _code, "",                         // 9
            _request.ContentTypeGrpc ? "grpc" : "http", Stopwatch.GetTimestamp() - started);
        // The response's last bytes leave only now: whoever sees the end also sees it counted.
        if (outcome == ForwardResult.Success && !await BodyCopy.FlushAsync(_output).ConfigureAwait(false))
            return Next.Close;
        return _closeAfter ? Next.Close : Next.Continue;
    }

    /// <summary>"/path?query" without percent-encoding or dot segments; anything else Kestrel normalizes (fallback).</summary>
    private static bool IsPlainOriginForm(ReadOnlySpan<byte> target)
    {
        if (target.IsEmpty || target[0] != '/')
            return false;
        var q = target.IndexOf((byte)'?');
        var path = q < 0 ? target : target[..q];
        if (path.Contains((byte)'%'))
            return false;
        var i = 0;
        while (true)
        {
            var dot = path[i..].IndexOf("/."u8);
            if (dot < 0)
                return true;
            var after = i + dot + 2;
            if (after == path.Length || path[after] == '/')
                return false;
            if (path[after] == '.' && (after + 1 == path.Length || path[after + 1] == '/'))
                return false;
            i = after;
        }
    }

    private ProxyPipeline.SourceIdentity ResolveSource(Direction direction)
    {
        var head = _request;
        _sourceReplaced = false;
        if (direction == Direction.Inbound)
        {
            if (head.SourceField < 0)
                return ProxyPipeline.UnknownSource;
            for (var i = 0; i < head.FieldCount; i++)
            {
                if (head.Fields[i].Kind == FieldKind.WeftSource)
                    head.Fields[i].Drop = true;
            }
            return _handler.Pipeline.ParseSource(SourceValue(head.Value(head.SourceField)));
        }
        // Outbound and gateway replace the claim; a gateway also drops every mesh-internal header
        // arriving from outside the mesh.
        _sourceReplaced = true;
        var gateway = direction == Direction.GatewayIngress;
        for (var i = 0; i < head.FieldCount; i++)
        {
            var kind = head.Fields[i].Kind;
            if (kind == FieldKind.WeftSource || (gateway && kind == FieldKind.WeftOther))
                head.Fields[i].Drop = true;
        }
        return _handler.Pipeline.Self;
    }

    private string SourceValue(ReadOnlySpan<byte> value)
    {
        if (_lastSourceLength == value.Length && value.SequenceEqual(_lastSource.AsSpan(0, value.Length)))
            return _sourceValue;
        _sourceValue = Encoding.Latin1.GetString(value);
        _lastSource = value.ToArray();
        _lastSourceLength = value.Length;
        return _sourceValue;
    }

    /// <summary>The request as route matching sees it. Strings are cached per connection: a repeated target costs nothing.</summary>
    private HttpRequest PrepareView(RouteTableRuntime table)
    {
        var view = t_view ??= new DefaultHttpContext();
        var request = view.Request;
        request.Method = MethodString(_request.Method);
        var target = _request.Target;
        if (_lastTargetLength != target.Length || !target.SequenceEqual(_lastTarget.AsSpan(0, target.Length)))
        {
            var q = target.IndexOf((byte)'?');
            _path = Encoding.ASCII.GetString(q < 0 ? target : target[..q]);
            _query = q < 0 ? "" : Encoding.ASCII.GetString(target[q..]);
            if (_lastTarget.Length < target.Length)
                _lastTarget = new byte[Math.Max(target.Length, 64)];
            target.CopyTo(_lastTarget);
            _lastTargetLength = target.Length;
        }
        request.Path = new PathString(_path);
        request.QueryString = new QueryString(_query);
        if (!ReferenceEquals(table, _lastTable))
        {
            _lastTable = table;
            _tableMatchesHeaders = MatchesHeaders(table);
        }
        var headers = request.Headers;
        if (headers.Count != 0)
            headers.Clear();
        if (_tableMatchesHeaders)
        {
            FillHeaders(headers, forwarding: false);
            if (_sourceReplaced)
                headers[ProxyPipeline.SourceHeader] = _handler.SourceHeaderValue;
        }
        return request;
    }

    private static bool MatchesHeaders(RouteTableRuntime table)
    {
        foreach (var route in table.Routes)
        {
            foreach (var matcher in route.Matchers)
            {
                if (matcher.Headers.Length != 0)
                    return true;
            }
        }
        return false;
    }

    // Cold: only routes that match on headers or modify them see the head as a dictionary.
    // For matching, the head is what Kestrel's path would show (hop-by-hop included, the identity
    // header already resolved); for forwarding, only what is forwarded.
    private void FillHeaders(IHeaderDictionary headers, bool forwarding)
    {
        var head = _request;
        for (var i = 0; i < head.FieldCount; i++)
        {
            ref var field = ref head.Fields[i];
            if (field.Drop && (forwarding || field.Kind is FieldKind.WeftSource or FieldKind.WeftOther))
                continue;
            headers.Append(Encoding.Latin1.GetString(head.Name(i)), Encoding.Latin1.GetString(head.Value(i)));
        }
    }

    private static string MethodString(ReadOnlySpan<byte> method) => method.Length switch
    {
        3 when method.SequenceEqual("GET"u8) => HttpMethods.Get,
        3 when method.SequenceEqual("PUT"u8) => HttpMethods.Put,
        4 when method.SequenceEqual("POST"u8) => HttpMethods.Post,
        4 when method.SequenceEqual("HEAD"u8) => HttpMethods.Head,
        5 when method.SequenceEqual("PATCH"u8) => HttpMethods.Patch,
        6 when method.SequenceEqual("DELETE"u8) => HttpMethods.Delete,
        7 when method.SequenceEqual("OPTIONS"u8) => HttpMethods.Options,
        _ => Encoding.ASCII.GetString(method),
    };

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<ForwardResult> ForwardAsync(RouteRuntime route, ClusterRuntime cluster, Direction direction)
    {
        var endpoints = cluster.Endpoints;
        if (endpoints.Length == 0)
            return ForwardResult.NoEndpoints;
        var pool = _handler.Pool;
        var start = cluster.Balancer.PickStart(endpoints.Length);
        UpstreamConnection? upstream = null;
        for (var attempt = 0; attempt < endpoints.Length && upstream is null; attempt++)
        {
            // Nothing of the request has left the proxy yet: a failed connect moves on.
            var endpoint = endpoints[(start + attempt) % endpoints.Length];
            _endpoint = endpoint;
            endpoint.Stats.RecordRequest();
            var endpointPool = pool.For(endpoint);
            upstream = pool.TryTakeIdle(endpointPool);
            if (upstream is null)
            {
                var (connected, error) = await pool.ConnectAsync(endpointPool, cluster.ConnectTimeout).ConfigureAwait(false);
                if (connected is null)
                    endpoint.RecordForwardFailure(ForwardResult.ConnectFailed, error, _handler.Logger);
                upstream = connected;
            }
        }
        if (upstream is null)
            return ForwardResult.ConnectFailed;

        var result = await ExchangeAsync(upstream, route, direction).ConfigureAwait(false);
        if (result == ForwardResult.UpstreamReset && upstream.Reused && !_request.HasBody && !_upstreamBytesSeen)
        {
            // A pooled connection the upstream had closed meanwhile: nothing reached an app; once more on a new one.
            var (fresh, error) = await pool.ConnectAsync(upstream.Pool, cluster.ConnectTimeout).ConfigureAwait(false);
            if (fresh is null)
            {
                _endpoint!.RecordForwardFailure(ForwardResult.ConnectFailed, error, _handler.Logger);
                return ForwardResult.ConnectFailed;
            }
            result = await ExchangeAsync(fresh, route, direction).ConfigureAwait(false);
        }
        if (result is not (ForwardResult.Success or ForwardResult.ClientAborted))
            _endpoint!.RecordForwardFailure(result, null, _handler.Logger);
        return result;
    }

    private bool _upstreamBytesSeen;

    /// <summary>One request/response on one upstream connection; the connection is pooled again or closed before this returns.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<ForwardResult> ExchangeAsync(UpstreamConnection upstream, RouteRuntime route, Direction direction)
    {
        _upstreamBytesSeen = false;
        var reusable = false;
        Task<CopyStatus>? body = null;
        try
        {
            WriteRequestHead(upstream.Output, route, direction);
            if (_request.ExpectContinue && _request.HasBody)
            {
                // The proxy answers 100 itself once an upstream is connected (Kestrel's behaviour
                // when an app starts reading); upstreams never see Expect.
                _output.Write("HTTP/1.1 100 Continue\r\n\r\n"u8);
                if (!await BodyCopy.FlushAsync(_output).ConfigureAwait(false))
                    return ForwardResult.ClientAborted;
            }
            if (_request.HasBody)
            {
                // Full duplex: an upstream may answer before it has read the whole body.
                body = CopyRequestBodyAsync(upstream.Output);
            }
            else if (!await BodyCopy.FlushAsync(upstream.Output).ConfigureAwait(false))
            {
                return ForwardResult.UpstreamReset;
            }

            // The response head, read here rather than in a method of its own: this is where a request
            // waits for its upstream, and every async frame on that path is paid again at each resume.
            var head = upstream.Head;
            while (true)
            {
                ReadResult read;
                try
                {
                    read = await upstream.Input.ReadAsync().ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
                {
                    return await BodyOrReset(body, upstream).ConfigureAwait(false);
                }
                var taken = TakeResponseHead(upstream, read);
                if (taken == HeadRead.Failed)
                    return await BodyOrReset(body, upstream).ConfigureAwait(false);
                // An interim response (1xx but 101) is dropped: the final one follows.
                if (taken == HeadRead.Parsed && head.Status is not (>= 100 and < 200) or 101)
                    break;
            }

            var upgrade = head.Status == 101;
            if (upgrade && !_request.IsUpgrade)
                return await BodyOrReset(body, upstream).ConfigureAwait(false);
            var noBody = upgrade || head.Status is 204 or 304 || _request.Method.SequenceEqual("HEAD"u8);
            var closeDelimited = !noBody && !head.Chunked && head.ContentLength < 0;
            if (closeDelimited || (head.Chunked && !noBody && _request.Http10) || _closeRequested || _handler.Draining())
                _closeAfter = true;
            WriteResponseHead(head, route.ResponseModifiers, noBody, upgrade);
            _responseStarted = true;
            _code = head.Status;

            if (upgrade)
            {
                if (!await BodyCopy.FlushAsync(_output).ConfigureAwait(false))
                    return ForwardResult.ClientAborted;
                _closeAfter = true;
                await UpgradeSplice.SpliceAsync(_input, _output, upstream).ConfigureAwait(false);
                return ForwardResult.Success;
            }

            CopyStatus copied;
            if (noBody)
                copied = CopyStatus.Done;
            else if (head.ContentLength >= 0)
                copied = await BodyCopy.CopyLengthAsync(upstream.Input, _output, head.ContentLength).ConfigureAwait(false);
            else if (head.Chunked)
                copied = await BodyCopy.CopyChunkedAsync(upstream.Input, _output, encode: !_request.Http10, _limits).ConfigureAwait(false);
            else
                copied = await BodyCopy.CopyToEndAsync(upstream.Input, _output).ConfigureAwait(false);
            if (copied != CopyStatus.Done)
            {
                if (body is not null)
                    StopBody(upstream);
                return copied == CopyStatus.DestinationFailed ? ForwardResult.ClientAborted : ForwardResult.ResponseBodyFailed;
            }

            if (body is not null)
            {
                if (!body.IsCompleted)
                {
                    // The upstream answered without reading the whole body: neither connection can tell where the next message starts.
                    StopBody(upstream);
                    _closeAfter = true;
                }
                var sent = await body.ConfigureAwait(false);
                if (sent != CopyStatus.Done)
                {
                    _closeAfter = true;
                    return ForwardResult.Success;
                }
            }
            reusable = !closeDelimited && !head.ConnectionClose && (!head.Http10 || head.ConnectionKeepAlive);
            return ForwardResult.Success;
        }
        finally
        {
            if (reusable)
                _handler.Pool.Return(upstream);
            else
                await upstream.CloseAsync().ConfigureAwait(false);
        }
    }

    private void StopBody(UpstreamConnection upstream)
    {
        upstream.Abort();
        _input.CancelPendingRead();
    }

    /// <summary>No usable response head: if the request body failed first, that is the cause; else the upstream reset.</summary>
    private async ValueTask<ForwardResult> BodyOrReset(Task<CopyStatus>? body, UpstreamConnection upstream)
    {
        if (body is null)
            return ForwardResult.UpstreamReset;
        if (!body.IsCompleted)
            StopBody(upstream);
        var status = await body.ConfigureAwait(false);
        _closeAfter = true;
        return status switch
        {
            CopyStatus.Malformed => ForwardResult.RequestBodyFailed,
            CopyStatus.SourceFailed => ForwardResult.ClientAborted,
            _ => ForwardResult.UpstreamReset,
        };
    }

    private async Task<CopyStatus> CopyRequestBodyAsync(PipeWriter upstream)
    {
        var status = _request.Chunked
            ? await BodyCopy.CopyChunkedAsync(_input, upstream, encode: true, _limits).ConfigureAwait(false)
            : await BodyCopy.CopyLengthAsync(_input, upstream, _request.ContentLength).ConfigureAwait(false);
        if (status == CopyStatus.Malformed)
            upstream.Complete();                      // the app sees a truncated body, never a complete bad one
        else if (status == CopyStatus.Done && !await BodyCopy.FlushAsync(upstream).ConfigureAwait(false))
            status = CopyStatus.DestinationFailed;
        return status;
    }

    private enum HeadRead { NeedMore, Parsed, Failed }

    /// <summary>Takes the response head out of what the upstream sent so far into upstream.Head, if it is all there.</summary>
    private HeadRead TakeResponseHead(UpstreamConnection upstream, in ReadResult result)
    {
        var input = upstream.Input;
        var buffer = result.Buffer;
        if (!buffer.IsEmpty)
            _upstreamBytesSeen = true;
        if (result.IsCanceled)
        {
            input.AdvanceTo(buffer.Start);
            return HeadRead.Failed;
        }
        var end = Http1Parser.FindHeadEnd(buffer, _limits.MaxResponseHeaderBlockBytes, 0, isRequest: false, out var error);
        if (error != HeadError.None)
        {
            input.AdvanceTo(buffer.Start);
            return HeadRead.Failed;
        }
        if (end >= 0)
        {
            var head = upstream.Head;
            head.Reset();
            var length = (int)end;
            head.EnsureCapacity(length);
            buffer.Slice(0, length).CopyTo(head.Buffer);
            head.Length = length;
            input.AdvanceTo(buffer.GetPosition(length));
            return Http1Parser.ParseResponse(head, _limits.MaxHeaderCount * 2) == HeadError.None ? HeadRead.Parsed : HeadRead.Failed;
        }
        if (result.IsCompleted)
        {
            input.AdvanceTo(buffer.End);
            return HeadRead.Failed;
        }
        input.AdvanceTo(buffer.Start, buffer.End);
        return HeadRead.NeedMore;
    }
}
