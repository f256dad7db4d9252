using System.Diagnostics;
using Weft.Integration.Harness;
using Xunit.Abstractions;

namespace Weft.Integration.Mesh;

/// <summary>Ctrl-C/SIGTERM of `weft up` stops every process it started within 10 s, leaving no process or port.</summary>
public sealed class ShutdownTests(ITestOutputHelper log)
{
    [Theory]
    [InlineData(Posix.SIGTERM)]
    [InlineData(Posix.SIGINT)]
    public async Task A_signal_to_weft_up_stops_everything_within_ten_seconds(int signal)
    {
        var mesh = new ShopMesh();
        await mesh.InitializeAsync();
        try
        {
            var children = Descendants(mesh.Up.Pid);
            log.WriteLine($"weft up {mesh.Up.Pid} runs {children.Count} processes");
            Assert.True(children.Count >= 14, $"expected the control plane, 7 proxies and 6 apps; found {children.Count}");

            var clock = Stopwatch.StartNew();
            mesh.Up.Signal(signal);
            Assert.True(await mesh.Up.WaitForExitAsync(TimeSpan.FromSeconds(10)), $"weft up still running 10 s after signal {signal}:\n{mesh.Up.Output}");
            log.WriteLine($"stopped in {clock.ElapsedMilliseconds} ms");
            var left = children.Where(Posix.IsAlive).ToList();
            Assert.True(left.Count == 0, $"left running: {string.Join(", ", left)}");
            foreach (var port in new[] { mesh.IngressPort, mesh.ApiPort, mesh.DiscoveryPort })
                Assert.True(PortIsFree(port), $"port {port} is still bound");
        }
        finally
        {
            await mesh.DisposeAsync();
        }
    }

    private static List<int> Descendants(int root)
    {
        var parents = new Dictionary<int, int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                parents[pid] = int.Parse(fields[1]);
            }
            catch (IOException) { }
        }
        var result = new List<int>();
        var frontier = new Queue<int>([root]);
        while (frontier.TryDequeue(out var p))
            foreach (var (child, parent) in parents)
                if (parent == p) { result.Add(child); frontier.Enqueue(child); }
        return result;
    }

    private static bool PortIsFree(int port)
    {
        try
        {
            using var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, port);
            l.Start();
            return true;
        }
        catch (System.Net.Sockets.SocketException) { return false; }
    }
}
