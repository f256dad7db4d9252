using System.IO.Pipelines;
using Weft.Proxy.Codecs.Http1;

namespace Weft.Proxy.Upstream;

/// <summary>
/// One keep-alive HTTP/1.1 connection to an endpoint, with what each exchange on it reuses: the
/// response head, its header view, its body reader, the request body writer.
/// </summary>
internal sealed class UpstreamConnection
{
    public UpstreamConnection(UpstreamTransport transport, EndpointPool pool, UpstreamPools pools, Http1Limits limits)
    {
        Transport = transport;
        Input = transport.Input;
        Output = transport.Output;
        Pool = pool;
        Body = new Http1BodyReader(limits);
        Exchange = new Http1Exchange(this, pools, limits);
    }

    public UpstreamTransport Transport { get; }
    public PipeReader Input { get; }
    public PipeWriter Output { get; }
    public EndpointPool Pool { get; }

    public MessageHead Head { get; } = new();
    public Http1HeaderView HeadView { get; } = new();
    public Http1BodyReader Body { get; }
    public Http1BodyWriter RequestBody { get; } = new();
    public Pipeline.ResponseHead Response { get; } = new();

    /// <summary>The exchange state every request on this connection reuses.</summary>
    public Http1Exchange Exchange { get; }

    /// <summary>When it went back to the pool (TimeProvider timestamp).</summary>
    public long IdleSince;

    /// <summary>True when taken from the pool: a failure before any response byte may be a stale connection.</summary>
    public bool Reused;

    /// <summary>While waiting for a response head: when the request's time is up (0: no deadline). Checked by the heartbeat.</summary>
    public long Deadline;

    private int _timedOut;

    public bool TimedOut => Volatile.Read(ref _timedOut) != 0;

    /// <summary>From the heartbeat: the deadline passed; the pending read of the head ends (cancelled).</summary>
    public void CheckDeadline(long now)
    {
        var deadline = Volatile.Read(ref Deadline);
        if (deadline != 0 && now > deadline && Interlocked.Exchange(ref _timedOut, 1) == 0)
            Input.CancelPendingRead();
    }

    public void BeginExchange(long deadline)
    {
        Volatile.Write(ref _timedOut, 0);
        Volatile.Write(ref Deadline, deadline);
    }

    public void HeadReceived() => Volatile.Write(ref Deadline, 0);

    public void Reset() => Transport.Reset();

    public ValueTask CloseAsync() => Transport.CloseAsync();
}
