using System.Threading.Tasks.Sources;
using Weft.Proxy.Pipeline;

namespace Weft.Proxy.Upstream;

/// <summary>How a request's wait for a connection to an endpoint at its limit ended.</summary>
internal enum WaitEnd : byte
{
    /// <summary>A finished exchange handed its connection over (<see cref="PoolWaiter.Connection"/>).</summary>
    Connection,

    /// <summary>A connection closed: its place is the waiter's, to open a new one.</summary>
    Place,

    /// <summary>The request's deadline passed first (the heartbeat saw it).</summary>
    TimedOut,

    /// <summary>The request's client left first.</summary>
    ClientLeft,
}

/// <summary>
/// One request waiting for a connection to an endpoint at its limit. It sits in its pool's waiting list
/// until the first of: a connection handed over, a place freed, its deadline, its client leaving; each
/// of them takes it out of the list under the pool's lock, so only the first ends the wait and a waiter
/// that gave up never holds a place in the queue. Made only past the endpoint's limit (a request that
/// gets a connection at once never makes one); awaited as a ValueTask, with no Task or timer of its own.
/// </summary>
internal sealed class PoolWaiter(EndpointPool pool, long deadline) : IValueTaskSource<WaitEnd>, IAbortWatcher
{
    private ManualResetValueTaskSourceCore<WaitEnd> _core = new() { RunContinuationsAsynchronously = true };

    // The pool's waiting list; read and written under the pool's lock only.
    internal PoolWaiter? Previous;
    internal PoolWaiter? Next;
    internal bool Listed;

    /// <summary>When the request's time is up (heartbeat timestamp); 0: none.</summary>
    public long Deadline { get; } = deadline;

    /// <summary>The connection handed over, when the wait ended with <see cref="WaitEnd.Connection"/>.</summary>
    public UpstreamConnection? Connection { get; private set; }

    public ValueTask<WaitEnd> Ended => new(this, _core.Version);

    /// <summary>By the pool, under its lock, once this waiter is out of the list: the one end of the wait.</summary>
    internal void End(WaitEnd end, UpstreamConnection? connection)
    {
        Connection = connection;
        _core.SetResult(end);
    }

    /// <summary>
    /// The client left: the wait ends unless something else ended it first. A waiter serves one request
    /// only, so the news is always about its own client.
    /// </summary>
    public void OnClientAborted(IDownstream client) => pool.Cancel(this, WaitEnd.ClientLeft);

    WaitEnd IValueTaskSource<WaitEnd>.GetResult(short token) => _core.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<WaitEnd>.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource<WaitEnd>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
