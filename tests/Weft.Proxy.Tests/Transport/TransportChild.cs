using System.Diagnostics;
using System.Net;
using System.Runtime.InteropServices;
using Weft.Proxy.Transport;

/// <summary>
/// Where a transport test's child process starts. The test runs this assembly (its generated Main does
/// nothing) with DOTNET_STARTUP_HOOKS naming it: the runtime calls Initialize first, which runs the
/// scenario WEFT_TRANSPORT_CHILD names and exits. A process of its own, so it may lower its own
/// descriptor limit without touching the test host's.
/// </summary>
internal static class StartupHook
{
    public static void Initialize()
    {
        if (Environment.GetEnvironmentVariable(Weft.Proxy.Tests.Transport.TransportChild.ScenarioVariable) is { } scenario)
            Environment.Exit(Weft.Proxy.Tests.Transport.TransportChild.Run(scenario));
    }
}

namespace Weft.Proxy.Tests.Transport
{
    /// <summary>Child processes for transport tests, and the scenarios they run (driven over stdin and stdout, one line a step).</summary>
    internal static class TransportChild
    {
        public const string ScenarioVariable = "WEFT_TRANSPORT_CHILD";

        /// <summary>Starts this assembly as a child running <paramref name="scenario"/>.</summary>
        public static Process Start(string scenario)
        {
            var assembly = typeof(TransportChild).Assembly.Location;
            var dotnet = Environment.ProcessPath is { } path && Path.GetFileNameWithoutExtension(path) == "dotnet" ? path : "dotnet";
            var start = new ProcessStartInfo(dotnet)
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            start.ArgumentList.Add("exec");
            start.ArgumentList.Add(assembly);
            start.Environment["DOTNET_STARTUP_HOOKS"] = assembly;
            start.Environment[ScenarioVariable] = scenario;
            return Process.Start(start) ?? throw new InvalidOperationException("the child did not start");
        }

        public static int Run(string scenario) => scenario switch
        {
            "accept-exhaustion" => AcceptExhaustion(),
            _ => 2,
        };

        /// <summary>
        /// A loop listener that answers "served" to every connection it accepts. Lowers its own
        /// RLIMIT_NOFILE, fills every descriptor left ("filled"), and once the test has connected its
        /// clients ("connected") and an accept has failed for want of one ("exhausted N"), frees them
        /// all ("freed"). Exits on "done".
        /// </summary>
        private static int AcceptExhaustion()
        {
            var input = Console.In;                            // opened now: later there is no descriptor to open it with
            using var transport = new LoopTransport(1, sendBatch: false);
            var listener = transport.BindAsync(new IPEndPoint(IPAddress.Loopback, 0)).AsTask().GetAwaiter().GetResult();
            _ = ServeAsync(listener);
            Console.WriteLine($"port {((IPEndPoint)listener.EndPoint).Port}");

            var open = Directory.GetFiles("/proc/self/fd").Length;
            var limit = new RLimit { Current = (ulong)open + 16, Maximum = ulong.MaxValue };
            if (getrlimit(RLIMIT_NOFILE, out var current) != 0)
                return 3;
            limit.Maximum = current.Maximum;
            if (setrlimit(RLIMIT_NOFILE, ref limit) != 0)
                return 4;
            _ = TransportCounters.AcceptDescriptorExhausted;   // compiled now, not when nothing can be opened
            var fillers = new List<int>();
            while (open64("/dev/null", O_RDONLY | O_CLOEXEC) is var fd and >= 0)
                fillers.Add(fd);
            Console.WriteLine($"filled {fillers.Count}");

            if (input.ReadLine() != "connected")
                return 5;
            var deadline = Stopwatch.StartNew();
            while (TransportCounters.AcceptDescriptorExhausted == 0 && deadline.Elapsed < TimeSpan.FromSeconds(10))
                Thread.Sleep(10);
            Console.WriteLine($"exhausted {TransportCounters.AcceptDescriptorExhausted}");
            foreach (var fd in fillers)
                Native.close(fd);
            Console.WriteLine("freed");
            return input.ReadLine() == "done" ? 0 : 6;
        }

        private static async Task ServeAsync(Microsoft.AspNetCore.Connections.IConnectionListener listener)
        {
            while (await listener.AcceptAsync() is { } connection)
            {
                await connection.Transport.Output.WriteAsync("served\n"u8.ToArray());
                await connection.DisposeAsync();
            }
        }

        private const int RLIMIT_NOFILE = 7;
        private const int O_RDONLY = 0;
        private const int O_CLOEXEC = 0x80000;

        [StructLayout(LayoutKind.Sequential)]
        private struct RLimit
        {
            public ulong Current;
            public ulong Maximum;
        }

        [DllImport("libc", SetLastError = true)] private static extern int getrlimit(int resource, out RLimit limit);
        [DllImport("libc", SetLastError = true)] private static extern int setrlimit(int resource, ref RLimit limit);
        [DllImport("libc", SetLastError = true)] private static extern int open64([MarshalAs(UnmanagedType.LPStr)] string path, int flags);
    }
}
