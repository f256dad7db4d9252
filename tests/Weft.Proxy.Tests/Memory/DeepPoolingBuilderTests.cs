using System.Runtime.CompilerServices;
using Weft.Proxy.Memory;
using Weft.Proxy.Tests.Codecs.Http1;

namespace Weft.Proxy.Tests.Memory;

/// <summary>
/// The request path's async builder: what an awaiting caller sees is what the runtime's builders give
/// (results, exceptions, cancellation, AsyncLocal values), and a thousand methods suspended at once
/// reuse their boxes the next time instead of allocating them again.
/// </summary>
[Collection(nameof(AllocationTests))]   // counts the process's allocations: not beside parallel tests
public sealed class DeepPoolingBuilderTests
{
    private static readonly AsyncLocal<string?> Flowing = new();

    [Fact]
    public async Task Results_come_back_whether_the_method_suspended_or_not()
    {
        Assert.Equal(7, await Twice(3, suspend: false) + 1);
        Assert.Equal(9, await Twice(4, suspend: true) + 1);
        await Nothing(suspend: false);
        await Nothing(suspend: true);
    }

    [Fact]
    public async Task Exceptions_and_cancellation_reach_the_awaiter_before_and_after_a_suspension()
    {
        foreach (var suspend in new[] { false, true })
        {
            var error = await Assert.ThrowsAsync<InvalidOperationException>(async () => await Throws(suspend));
            Assert.Equal("boom", error.Message);
            await Assert.ThrowsAsync<InvalidOperationException>(async () => await ThrowsNothing(suspend));
            var canceled = Canceled(suspend).AsTask();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => canceled);
            Assert.True(canceled.IsCanceled);
        }
    }

    [Fact]
    public async Task AsyncLocal_values_flow_into_the_method_across_awaits_and_do_not_leak_out()
    {
        Flowing.Value = "caller";
        var seen = await SeesAndSets();
        Assert.Equal(("caller", "caller", "inside"), seen);
        Assert.Equal("caller", Flowing.Value);
    }

    [OptimizedBuildFact]    // a Debug build makes every async state machine a class, allocated per call
    public void A_thousand_methods_suspended_at_once_reuse_their_boxes_the_next_time()
    {
        const int n = 1000;
        var gate = new Gate(n);
        var tasks = new ValueTask<int>[n];

        long Round()
        {
            var before = GC.GetTotalAllocatedBytes(precise: true);
            gate.Reset();
            for (var i = 0; i < n; i++)
#pragma warning disable CA2012 // each is read once, below: held in an array so that all are suspended at once
                tasks[i] = WaitsFor(gate, i);
#pragma warning restore CA2012
            gate.Open();
            for (var i = 0; i < n; i++)
            {
                if (tasks[i].Result != i + 1)           // the awaiter's read gives the box back
                    Assert.Fail($"method {i} returned {tasks[i].Result}");
            }
            return GC.GetTotalAllocatedBytes(precise: true) - before;
        }

        var first = Round();
        var second = Round();
        var third = Round();
        // A box (the method's state, its result source, its continuation delegate) is over 100 bytes:
        // the first round makes them, later rounds find them pooled.
        Assert.True(first >= n * 100L, $"first round allocated {first} bytes: the measure does not see boxes");
        Assert.True(Math.Min(second, third) < n * 8L, $"later rounds allocated {second} and {third} bytes for {n} methods (first: {first})");
    }

    [AsyncMethodBuilder(typeof(DeepPoolingBuilder<>))]
    private static async ValueTask<int> Twice(int x, bool suspend)
    {
        if (suspend)
            await Task.Yield();
        return x * 2;
    }

    [AsyncMethodBuilder(typeof(DeepPoolingBuilder))]
    private static async ValueTask Nothing(bool suspend)
    {
        if (suspend)
            await Task.Yield();
    }

    [AsyncMethodBuilder(typeof(DeepPoolingBuilder<>))]
    private static async ValueTask<int> Throws(bool suspend)
    {
        if (suspend)
            await Task.Yield();
        throw new InvalidOperationException("boom");
    }

    [AsyncMethodBuilder(typeof(DeepPoolingBuilder))]
    private static async ValueTask ThrowsNothing(bool suspend)
    {
        if (suspend)
            await Task.Yield();
        throw new InvalidOperationException("boom");
    }

    [AsyncMethodBuilder(typeof(DeepPoolingBuilder<>))]
    private static async ValueTask<int> Canceled(bool suspend)
    {
        if (suspend)
            await Task.Yield();
        throw new OperationCanceledException();
    }

    [AsyncMethodBuilder(typeof(DeepPoolingBuilder<>))]
    private static async ValueTask<(string?, string?, string?)> SeesAndSets()
    {
        var before = Flowing.Value;
        await Task.Yield();
        var after = Flowing.Value;
        Flowing.Value = "inside";
        await Task.Yield();
        return (before, after, Flowing.Value);
    }

    [AsyncMethodBuilder(typeof(DeepPoolingBuilder<>))]
    private static async ValueTask<int> WaitsFor(Gate gate, int i)
    {
        await gate.Wait(i);
        return i + 1;
    }

    /// <summary>Holds its waiters in a preallocated array and resumes them all inline: allocates nothing per wait.</summary>
    private sealed class Gate(int size)
    {
        private readonly Action?[] _waiters = new Action?[size];
        private bool _open;

        public void Reset() => _open = false;

        public Awaiter Wait(int slot) => new(this, slot);

        public void Open()
        {
            _open = true;
            for (var i = 0; i < _waiters.Length; i++)
            {
                var waiter = _waiters[i];
                _waiters[i] = null;
                waiter?.Invoke();
            }
        }

        public readonly struct Awaiter(Gate gate, int slot) : ICriticalNotifyCompletion
        {
            public bool IsCompleted => gate._open;

            public Awaiter GetAwaiter() => this;

            public void GetResult()
            {
            }

            public void OnCompleted(Action continuation) => gate._waiters[slot] = continuation;

            public void UnsafeOnCompleted(Action continuation) => gate._waiters[slot] = continuation;
        }
    }
}
