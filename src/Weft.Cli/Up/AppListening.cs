using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Weft.Cli.Up;

/// <summary>Waits for apps to accept connections on their ports (their readiness as far as the mesh can tell).</summary>
internal static class AppListening
{
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(50);

    /// <summary>Returns once every replica's app accepts on 127.0.0.1; TimeoutException naming the first that does not.</summary>
    public static async Task WaitAsync(IEnumerable<ReplicaLaunch> replicas, TimeSpan deadline, CancellationToken ct)
    {
        var until = DateTime.UtcNow + deadline;
        foreach (var replica in replicas)
        {
            while (!await (replica.Network is { } net
                ? Isolation.NetnsSocket.AcceptsAsync(net.Namespace, new IPEndPoint(IPAddress.Loopback, replica.AppPort), ct)
                : AcceptsAsync(replica.AppPort, ct)).ConfigureAwait(false))
            {
                if (DateTime.UtcNow > until)
                    throw new TimeoutException($"app {replica.Instance} is not listening on 127.0.0.1:{replica.AppPort.ToString(CultureInfo.InvariantCulture)}{(replica.Network is { } n ? " of namespace " + n.Namespace : "")} after {deadline.TotalSeconds:0} s");
                await Task.Delay(Poll, ct).ConfigureAwait(false);
            }
        }
    }

    private static async Task<bool> AcceptsAsync(int port, CancellationToken ct)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try { await socket.ConnectAsync(IPAddress.Loopback, port, ct).ConfigureAwait(false); return true; }
        catch (SocketException) { return false; }
    }

    /// <summary>
    /// For each service, the upstream services whose apps should listen before its own app starts:
    /// every upstream except those that (transitively) call back into it, since waiting in a cycle
    /// would wait forever.
    /// </summary>
    public static IReadOnlyDictionary<string, IReadOnlyList<string>> UpstreamsToAwait(IEnumerable<(string Service, IReadOnlyList<string> Upstreams)> workloads)
    {
        var calls = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        foreach (var (service, upstreams) in workloads)
        {
            if (!calls.TryGetValue(service, out var set)) calls[service] = set = new(StringComparer.Ordinal);
            set.UnionWith(upstreams);
        }
        var result = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        foreach (var (service, upstreams) in calls)
            result[service] = upstreams.Where(u => !Reaches(calls, u, service)).Order(StringComparer.Ordinal).ToList();
        return result;
    }

    private static bool Reaches(Dictionary<string, HashSet<string>> calls, string from, string target)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var stack = new Stack<string>([from]);
        while (stack.TryPop(out var s))
        {
            if (s == target) return true;
            if (!seen.Add(s) || !calls.TryGetValue(s, out var next)) continue;
            foreach (var n in next) stack.Push(n);
        }
        return false;
    }
}
