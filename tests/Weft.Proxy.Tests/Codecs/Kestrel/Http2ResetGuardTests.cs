using System.Diagnostics;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;
using Weft.Proxy.Codecs.Kestrel;
using Weft.Proxy.Listeners;
using Weft.Proxy.Telemetry;
using Weft.Proxy.Tests.Support;

namespace Weft.Proxy.Tests.Codecs.Kestrel;

/// <summary>The reset budget's rule, one connection at a time (the flood itself: Http/Http2LimitsTests).</summary>
public sealed class Http2ResetGuardTests
{
    private const int Limit = 4;

    [Fact]
    public async Task Fewer_premature_resets_than_the_stream_limit_never_close()
    {
        var c = Attach();
        for (var i = 0; i < Limit - 1; i++)
            c.Budget.OnStreamEnded(premature: true);
        Assert.Equal(0, c.Closes.Requested);
        await AssertNotAbortedAsync(c);
    }

    [Fact]
    public async Task The_limit_reached_by_half_or_more_of_the_streams_gets_one_goaway_then_an_abort()
    {
        var c = Attach();
        c.Budget.OnStreamEnded(premature: false);
        for (var i = 0; i < Limit; i++)
            c.Budget.OnStreamEnded(premature: true);
        Assert.Equal(1, c.Closes.Requested);
        Assert.Equal(1, c.Metrics.ResetFloods.Single().Value.Value);

        // Streams in flight at the GOAWAY may still be reset, up to the limit again; past that the client ignores it.
        for (var i = 0; i < Limit - 1; i++)
            c.Budget.OnStreamEnded(premature: true);
        Assert.Equal(1, c.Closes.Requested);
        await AssertNotAbortedAsync(c);
        c.Budget.OnStreamEnded(premature: true);
        await Eventually.TrueAsync(() => Task.FromResult(c.Connection.ConnectionClosed.IsCancellationRequested), "aborted");
        Assert.Equal(1, c.Metrics.ResetFloods.Single().Value.Value);
    }

    [Fact]
    public async Task Resets_under_half_of_the_streams_never_close_however_many()
    {
        var c = Attach();
        for (var i = 0; i < 100 * Limit; i++)
        {
            c.Budget.OnStreamEnded(premature: false);
            c.Budget.OnStreamEnded(premature: false);
            c.Budget.OnStreamEnded(premature: true);
        }
        Assert.Equal(0, c.Closes.Requested);
        await AssertNotAbortedAsync(c);
    }

    [Fact]
    public void Only_a_client_abort_within_a_second_is_premature()
    {
        var c = Attach();
        var context = new DefaultHttpContext();
        context.Features.Set(c.Budget);
        for (var i = 0; i < 10 * Limit; i++)
        {
            Http2ResetGuard.OnStreamEnded(context, clientAborted: true, elapsedTicks: 2 * Stopwatch.Frequency);
            Http2ResetGuard.OnStreamEnded(context, clientAborted: false, elapsedTicks: 0);
        }
        Assert.Equal(0, c.Closes.Requested);
        for (var i = 0; i < 25 * Limit; i++)
            Http2ResetGuard.OnStreamEnded(context, clientAborted: true, elapsedTicks: Stopwatch.Frequency / 100);
        Assert.Equal(1, c.Closes.Requested);
    }

    [Fact]
    public void A_connection_without_a_budget_is_left_alone() =>
        Http2ResetGuard.OnStreamEnded(new DefaultHttpContext(), clientAborted: true, elapsedTicks: 0);

    private static async Task AssertNotAbortedAsync(Attached c)
    {
        // Abort cancels ConnectionClosed from the thread pool: give it a moment to show.
        await Task.Delay(50);
        Assert.False(c.Connection.ConnectionClosed.IsCancellationRequested);
    }

    private sealed record Attached(Http2ResetGuard.Budget Budget, CloseRecorder Closes, DefaultConnectionContext Connection, ProxyMetrics Metrics);

    private static Attached Attach()
    {
        var metrics = new ProxyMetrics();
        var guard = new Http2ResetGuard(new Http2ListenerLimits { MaxConcurrentStreams = Limit }, metrics, NullLogger.Instance);
        var connection = new DefaultConnectionContext();
        var closes = new CloseRecorder();
        connection.Features.Set<IConnectionLifetimeNotificationFeature>(closes);
        guard.Attach(connection, 8080);
        return new Attached(connection.Features.Get<Http2ResetGuard.Budget>()!, closes, connection, metrics);
    }

    private sealed class CloseRecorder : IConnectionLifetimeNotificationFeature
    {
        private int _requested;

        public int Requested => Volatile.Read(ref _requested);

        public CancellationToken ConnectionClosedRequested { get; set; }

        public void RequestClose() => Interlocked.Increment(ref _requested);
    }
}
