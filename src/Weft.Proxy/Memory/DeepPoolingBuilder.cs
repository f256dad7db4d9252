using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading.Tasks.Sources;

namespace Weft.Proxy.Memory;

/// <summary>
/// An async method builder for the request path's <see cref="ValueTask{TResult}"/> methods whose boxes
/// (the heap copy of a suspended method's state) are pooled as deep as the requests in flight.
/// <see cref="PoolingAsyncValueTaskMethodBuilder{TResult}"/> keeps one box per thread and one per core:
/// enough while each connection runs one request at a time on its own loop, not with a thousand requests
/// suspended at once (HTTP/2 streams, a thousand connections waiting on their upstreams). There it
/// allocated four boxes per request, 1 KB that lived as long as the request, outlived gen0, and made
/// the GC grow its gen0 budget to ~20 MB (bench: 64 MB RSS under 1000 HTTP/2 connections). Here a box
/// goes back to a pool per method shared by all threads (a per-thread slot in front of it), which holds
/// at most <see cref="DeepPool.MaxPerMethod"/> boxes: what was once suspended at the same time.
/// Semantics are the runtime builder's: await the task once; a method that completes without suspending
/// rents nothing.
/// </summary>
[StructLayout(LayoutKind.Auto)]
internal struct DeepPoolingBuilder<TResult>
{
    private DeepPoolBox<TResult>? _box;       // set at the first suspension (or by a failure before one)
    private TResult _syncResult;

    public static DeepPoolingBuilder<TResult> Create() => default;

    /// <summary>The box, once the method suspended or failed; null while it completed synchronously.</summary>
    internal readonly DeepPoolBox<TResult>? Box => _box;

    public readonly ValueTask<TResult> Task =>
        _box is { } box ? new ValueTask<TResult>(box, box.Version) : new ValueTask<TResult>(_syncResult);

    // The runtime's Start (execution and synchronization context saved and restored around the first
    // step) is reachable through any builder; it touches no builder state.
    public readonly void Start<TStateMachine>(ref TStateMachine stateMachine) where TStateMachine : IAsyncStateMachine =>
        default(AsyncValueTaskMethodBuilder<TResult>).Start(ref stateMachine);

    public readonly void SetStateMachine(IAsyncStateMachine stateMachine) => ArgumentNullException.ThrowIfNull(stateMachine);

    public void SetResult(TResult result)
    {
        if (_box is null)
            _syncResult = result;
        else
            _box.SetResult(result);
    }

    public void SetException(Exception exception) => (_box ??= DeepPoolBox<TResult>.ForFailure()).SetException(exception);

    public void AwaitOnCompleted<TAwaiter, TStateMachine>(ref TAwaiter awaiter, ref TStateMachine stateMachine)
        where TAwaiter : INotifyCompletion where TStateMachine : IAsyncStateMachine =>
        awaiter.OnCompleted(DeepPoolBox<TResult>.For(ref _box, ref stateMachine).MoveNextAction);

    public void AwaitUnsafeOnCompleted<TAwaiter, TStateMachine>(ref TAwaiter awaiter, ref TStateMachine stateMachine)
        where TAwaiter : ICriticalNotifyCompletion where TStateMachine : IAsyncStateMachine =>
        awaiter.UnsafeOnCompleted(DeepPoolBox<TResult>.For(ref _box, ref stateMachine).MoveNextAction);
}

/// <summary><see cref="DeepPoolingBuilder{TResult}"/> for methods that return <see cref="ValueTask"/>: the same box, read as a result-less source.</summary>
[StructLayout(LayoutKind.Auto)]
internal struct DeepPoolingBuilder
{
    private DeepPoolingBuilder<DeepPool.Nothing> _inner;

    public static DeepPoolingBuilder Create() => default;

    public readonly ValueTask Task => _inner.Box is { } box ? new ValueTask(box, box.Version) : default;

    public readonly void Start<TStateMachine>(ref TStateMachine stateMachine) where TStateMachine : IAsyncStateMachine =>
        _inner.Start(ref stateMachine);

    public readonly void SetStateMachine(IAsyncStateMachine stateMachine) => _inner.SetStateMachine(stateMachine);

    public void SetResult() => _inner.SetResult(default);

    public void SetException(Exception exception) => _inner.SetException(exception);

    public void AwaitOnCompleted<TAwaiter, TStateMachine>(ref TAwaiter awaiter, ref TStateMachine stateMachine)
        where TAwaiter : INotifyCompletion where TStateMachine : IAsyncStateMachine =>
        _inner.AwaitOnCompleted(ref awaiter, ref stateMachine);

    public void AwaitUnsafeOnCompleted<TAwaiter, TStateMachine>(ref TAwaiter awaiter, ref TStateMachine stateMachine)
        where TAwaiter : ICriticalNotifyCompletion where TStateMachine : IAsyncStateMachine =>
        _inner.AwaitUnsafeOnCompleted(ref awaiter, ref stateMachine);
}

/// <summary>Limits shared by every <see cref="DeepPoolingBuilder{TResult}"/>.</summary>
internal static class DeepPool
{
    /// <summary>Boxes kept per async method: beyond this many suspended at once, the surplus is garbage when done.</summary>
    public const int MaxPerMethod = 4096;

    /// <summary>The result of a method that returns nothing.</summary>
    public readonly struct Nothing;
}

/// <summary>A suspended method's box: its result source, and the pool it returns to once awaited.</summary>
internal abstract class DeepPoolBox<TResult> : IValueTaskSource<TResult>, IValueTaskSource
{
    private ManualResetValueTaskSourceCore<TResult> _core;

    public short Version => _core.Version;

    public Action MoveNextAction { get; protected init; } = null!;

    internal static DeepPoolBox<TResult> For<TStateMachine>(ref DeepPoolBox<TResult>? slot, ref TStateMachine stateMachine)
        where TStateMachine : IAsyncStateMachine
    {
        if (slot is StateMachineBox<TStateMachine> existing)
        {
            existing.Context = ExecutionContext.Capture();
            return existing;
        }
        var box = StateMachineBox<TStateMachine>.Rent();
        // The slot first: it is a field of the state machine, which is copied into the box next, and
        // the copy's builder must know its box.
        slot = box;
        box.StateMachine = stateMachine;
        box.Context = ExecutionContext.Capture();
        return box;
    }

    /// <summary>
    /// A method that fails before it suspends: a box of its own, not pooled (failures are rare), so that
    /// the awaiter sees the exception as the runtime's builders show it (cancellation as canceled).
    /// </summary>
    internal static DeepPoolBox<TResult> ForFailure() => new FailureBox();

    public void SetResult(TResult result) => _core.SetResult(result);

    public void SetException(Exception exception) => _core.SetException(exception);

    public TResult GetResult(short token)
    {
        try
        {
            return _core.GetResult(token);
        }
        finally
        {
            _core.Reset();
            Return();
        }
    }

    void IValueTaskSource.GetResult(short token) => GetResult(token);

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);

    protected abstract void Return();

    private sealed class FailureBox : DeepPoolBox<TResult>
    {
        protected override void Return()
        {
        }
    }

    private sealed class StateMachineBox<TStateMachine> : DeepPoolBox<TResult> where TStateMachine : IAsyncStateMachine
    {
        [ThreadStatic] private static StateMachineBox<TStateMachine>? t_spare;
        private static readonly Lock Gate = new();
        private static StateMachineBox<TStateMachine>[] s_pool = new StateMachineBox<TStateMachine>[16];
        private static int s_pooled;

        private static readonly ContextCallback RunInContext = static box => ((StateMachineBox<TStateMachine>)box!).StateMachine!.MoveNext();

        public TStateMachine? StateMachine;
        public ExecutionContext? Context;

        private StateMachineBox() => MoveNextAction = MoveNext;

        public static StateMachineBox<TStateMachine> Rent()
        {
            var box = t_spare;
            if (box is not null)
            {
                t_spare = null;
                return box;
            }
            lock (Gate)
            {
                if (s_pooled > 0)
                {
                    box = s_pool[--s_pooled];
                    s_pool[s_pooled] = null!;
                    return box;
                }
            }
            return new StateMachineBox<TStateMachine>();
        }

        protected override void Return()
        {
            StateMachine = default;
            Context = null;
            if (t_spare is null)
            {
                t_spare = this;
                return;
            }
            lock (Gate)
            {
                if (s_pooled == s_pool.Length)
                {
                    if (s_pool.Length >= DeepPool.MaxPerMethod)
                        return;
                    Array.Resize(ref s_pool, s_pool.Length * 2);
                }
                s_pool[s_pooled++] = this;
            }
        }

        // Nothing of the box is touched after the step: a step that completes the method may run its
        // awaiter inline, which returns this box, and another request may already be using it.
        private void MoveNext()
        {
            var context = Context;
            if (context is null)
                StateMachine!.MoveNext();
            else
                ExecutionContext.Run(context, RunInContext, this);
        }
    }
}
