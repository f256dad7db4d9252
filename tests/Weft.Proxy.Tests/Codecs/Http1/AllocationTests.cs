using System.Diagnostics;
using System.Net;
using System.Reflection;
using System.Net.Sockets;
using Weft.Proxy.Tests.Support;
using Xunit.Abstractions;

namespace Weft.Proxy.Tests.Codecs.Http1;

/// <summary>
/// "The request path should allocate close to nothing per request": keep-alive GETs through the lean
/// path to a raw upstream, counting every byte the process allocates (client and upstream loops
/// here allocate nothing per request themselves).
/// </summary>
[Collection(nameof(AllocationTests))]
public sealed class AllocationTests(ITestOutputHelper output)
{
    [OptimizedBuildFact]
    public async Task Steady_state_forwarding_allocates_close_to_nothing_per_request()
    {
        await using var upstream = new RecordingUpstream();
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("app")).Cluster("app", upstream.Port).Build());

        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(IPAddress.Loopback, port);
        var request = "GET /alloc?x=1 HTTP/1.1\r\nHost: a\r\nUser-Agent: t\r\nAccept: */*\r\n\r\n"u8.ToArray();
        var expected = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"u8.Length;
        var buffer = new byte[4096];

        async Task RunAsync(int count)
        {
            for (var i = 0; i < count; i++)
            {
                await socket.SendAsync(request.AsMemory(), SocketFlags.None);
                var got = 0;
                while (got < expected)
                    got += await socket.ReceiveAsync(buffer.AsMemory(got), SocketFlags.None);
            }
        }

        await RunAsync(2000);                                   // warm up: JIT, pools, caches

        // Whole-process counting also sees whatever else the runtime does meanwhile (tiered
        // compilation, timers, a previous test's connections winding down): that noise only adds, so
        // the quietest of several windows is the path's own figure. A per-request allocation shows
        // in every window.
        const int n = 10000;
        var windows = new List<double>();
        for (var w = 0; w < 4; w++)
        {
            var before = GC.GetTotalAllocatedBytes(precise: true);
            await RunAsync(n);
            windows.Add((GC.GetTotalAllocatedBytes(precise: true) - before) / (double)n);
        }
        var perRequest = windows.Min();
        output.WriteLine($"allocated per proxied request (whole process), quietest of {windows.Count} windows of {n}: {perRequest:F1} bytes (all: {string.Join(", ", windows.Select(x => x.ToString("F1")))})");
        // On Weft's transport a request's code resumes on its loop's thread, where the pooled async state
        // machines wait in a per-thread cache: close to nothing. .NET's sockets resume on any thread-pool
        // thread, so a box returned on one thread is missed on another: a few boxes per request.
        var bound = Environment.GetEnvironmentVariable("WEFT_PROXY_TRANSPORT") == "sockets" ? 256 : 16;
        Assert.True(perRequest < bound, $"{perRequest:F1} bytes per request (bound {bound})");
    }
}

/// <summary>Whole-process counting: this runs alone, after the parallel tests.</summary>
[CollectionDefinition(nameof(AllocationTests), DisableParallelization = true)]
public sealed class AllocationTestsCollection;

/// <summary>
/// A fact about the proxy's optimized build: in a Debug build the C# compiler makes every async state
/// machine a class, allocated per call, so the pooled builders' figure means nothing there (./test.sh
/// builds Release).
/// </summary>
public sealed class OptimizedBuildFactAttribute : FactAttribute
{
    public OptimizedBuildFactAttribute()
    {
        if (typeof(Weft.Proxy.ProxyHost).Assembly.GetCustomAttribute<DebuggableAttribute>()?.IsJITOptimizerDisabled == true)
            Skip = "Weft.Proxy is a Debug build (async state machines are classes there); run with -c Release as ./test.sh does";
    }
}
