using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Weft.Protocol.Discovery;
using Weft.Proxy.Config;

namespace Weft.Proxy.Tests.Support;

/// <summary>A ProxyHost on an ephemeral admin port, with clients for its listeners and its admin endpoint.</summary>
public sealed class TestProxy : IAsyncDisposable
{
    public static readonly ProxyIdentity DefaultIdentity = new("frontend", "v7", "default", Role.Sidecar);

    private TestProxy(ProxyHost host)
    {
        Host = host;
        Admin = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{host.AdminPort}") };
    }

    public ProxyHost Host { get; }
    public HttpClient Admin { get; }

    /// <param name="certified">Holds a certificate of <see cref="TestCertificates.Mesh"/> for its service from the start (as a running sidecar does).</param>
    public static async Task<TestProxy> StartAsync(ProxyIdentity? identity = null, ProxyHostOptions? options = null, bool certified = true)
    {
        // WEFT_TEST_LOG=1 shows the proxy's own logs when a test needs explaining.
        ILoggerFactory logs = Environment.GetEnvironmentVariable("WEFT_TEST_LOG") == "1"
            ? LoggerFactory.Create(b => b.AddSimpleConsole().SetMinimumLevel(LogLevel.Debug))
            : NullLoggerFactory.Instance;
        var host = new ProxyHost(identity ?? DefaultIdentity, IPAddress.Loopback, 0, logs,
            options ?? new ProxyHostOptions { ListenerDrainTimeout = TimeSpan.FromSeconds(10) });
        if (certified)
            host.Certificates.Set(TestCertificates.Mesh.Issue(host.Identity.Service, host.Identity.Namespace));
        await host.StartAsync();
        return new TestProxy(host);
    }

    public ValueTask<string?> ApplyAsync(ProxyResources resources) => Host.ConfigSink.ApplyAsync(resources, CancellationToken.None);

    public async Task ApplyOkAsync(ProxyResources resources)
    {
        var error = await ApplyAsync(resources);
        Assert.Null(error);
    }

    public static HttpClient Client(int port) => new(new SocketsHttpHandler { UseProxy = false, AllowAutoRedirect = false })
    {
        BaseAddress = new Uri($"http://127.0.0.1:{port}"),
    };

    private static readonly HashSet<int> HandedOut = [];

    /// <summary>
    /// A port nothing listens on right now (bound then released by the OS), never one handed out before
    /// in this test run: the OS may give the same port to two binds in a row.
    /// </summary>
    public static int FreePort()
    {
        while (true)
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            var port = ((IPEndPoint)socket.LocalEndPoint!).Port;
            lock (HandedOut)
            {
                if (HandedOut.Add(port))
                    return port;
            }
        }
    }

    public async Task<string> MetricsAsync() => await Admin.GetStringAsync("/stats/prometheus");

    /// <summary>The value of one series (name and labels exactly as exposed) in the current scrape; null when absent.</summary>
    public async Task<double?> MetricAsync(string series) => MetricValue(await MetricsAsync(), series);

    /// <summary>The value of one series in a scrape; null when absent.</summary>
    public static double? MetricValue(string scrape, string series)
    {
        foreach (var line in scrape.Split('\n'))
        {
            if (line.StartsWith(series + " ", StringComparison.Ordinal))
                return double.Parse(line[(series.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        }
        return null;
    }

    public async ValueTask DisposeAsync()
    {
        await Host.StopAsync(TimeSpan.FromSeconds(2));
        Admin.Dispose();
    }
}

public static class Eventually
{
    /// <summary>Polls <paramref name="condition"/> until it holds or the deadline passes (then fails with <paramref name="what"/>).</summary>
    public static async Task TrueAsync(Func<Task<bool>> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (true)
        {
            if (await condition())
                return;
            if (DateTime.UtcNow > deadline)
                Assert.Fail("timed out waiting for: " + what);
            await Task.Delay(20);
        }
    }
}
