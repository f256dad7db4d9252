using System.Net;
using System.Net.Sockets;
using Weft.Cli.Up;

namespace Weft.Integration.Up;

public sealed class PortsAndReadinessTests
{
    [Fact]
    public void Ports_are_distinct_bindable_and_outside_the_ephemeral_range()
    {
        var allocator = new PortAllocator();
        var ports = Enumerable.Range(0, 64).Select(_ => allocator.Next()).ToArray();
        Assert.Equal(ports.Length, ports.Distinct().Count());

        var low = int.Parse(File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split('\t', ' ')[0]);
        Assert.All(ports, p => Assert.InRange(p, 20000, low - 1));

        // All at once: each really is free for the process that gets it.
        var listeners = ports.Select(p => new TcpListener(IPAddress.Loopback, p)).ToArray();
        try
        {
            foreach (var l in listeners) l.Start();
        }
        finally
        {
            foreach (var l in listeners) l.Stop();
        }
    }

    [Fact]
    public void A_port_in_use_is_never_handed_out()
    {
        var allocator = new PortAllocator();
        var taken = new List<TcpListener>();
        try
        {
            for (var i = 0; i < 16; i++)
            {
                var port = allocator.Next();
                var listener = new TcpListener(IPAddress.Loopback, port);
                listener.Start(); // throws if the port were not free
                taken.Add(listener);
            }
        }
        finally
        {
            foreach (var l in taken) l.Stop();
        }
    }

    [Fact]
    public async Task Readiness_is_false_when_nothing_answers_by_the_deadline()
    {
        var port = new PortAllocator().Next();
        var started = System.Diagnostics.Stopwatch.StartNew();
        Assert.False(await ReadinessProbe.WaitAsync(new Uri($"http://127.0.0.1:{port}/ready"), TimeSpan.FromMilliseconds(300)));
        Assert.InRange(started.Elapsed, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Readiness_waits_for_200_not_just_any_answer()
    {
        using var server = new TinyHttpServer();
        server.Status = 503;
        var ready = ReadinessProbe.WaitAsync(new Uri($"http://127.0.0.1:{server.Port}/ready"), UpTestSupport.Deadline);
        await UpTestSupport.WaitUntilAsync(() => server.Requests >= 2, "probed at least twice");
        Assert.False(ready.IsCompleted);
        server.Status = 200;
        Assert.True(await ready.WaitAsync(UpTestSupport.Deadline));
    }
}
