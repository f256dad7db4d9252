using System.Diagnostics;
using System.Globalization;
using Weft.Model.Topology;

namespace Weft.Cli.Up;

/// <summary>
/// How `weft up` stops a mesh without losing a request in flight, also for apps that exit at once on
/// SIGTERM (most do: Python's http.server, Node, Go without a handler). The order:
/// <list type="number">
/// <item>New requests stop: the ingress gateway drains (stops accepting; the requests it forwarded run
///   on, and it exits when they are answered), and apps that only call others (no workload lists
///   their service upstream and the ingress does not serve it: the demo's loadgen) get SIGTERM.</item>
/// <item>Requests already inside apps finish: until every sidecar counts none inbound, at most until
///   the drain deadline (from the signal), which is printed when it passes. Sidecars keep serving
///   their apps' outbound calls meanwhile: a request in flight may call another service.</item>
/// <item>Apps get SIGTERM, then proxies (nothing is left in flight), then the control plane, each
///   with its share of <see cref="ProcessSupervisor.DefaultStopBudget"/> before SIGKILL.</item>
/// </list>
/// Worst case: the drain deadline plus the 10 s stop budget.
/// </summary>
internal static class MeshShutdown
{
    public static readonly TimeSpan DefaultDrainDeadline = TimeSpan.FromSeconds(10);
    // What a caller app gets between SIGTERM and SIGKILL in the first phase: an app's share of the stop budget.
    private static readonly TimeSpan CallerGrace = TimeSpan.FromSeconds(5);
    // The gateway exits by itself at its --drain-seconds (the drain deadline); SIGKILL only if it does not.
    private static readonly TimeSpan GatewayExitSlack = TimeSpan.FromSeconds(2);

    public static async Task StopAsync(ProcessSupervisor supervisor, LaunchPlan? plan, Topology topology, TimeSpan drainDeadline, TextWriter log)
    {
        if (plan is not null)
        {
            var clock = Stopwatch.StartNew();
            var callers = CallerInstances(topology, plan);
            var first = supervisor.Processes
                .Where(p => p.Spec.Name == GatewayLaunch.ProcessName || callers.Contains(p.Spec.Name))
                .Select(p => p.StopAsync(p.Spec.Name == GatewayLaunch.ProcessName ? drainDeadline + GatewayExitSlack : Min(CallerGrace, drainDeadline)));
            await Task.WhenAll(first).ConfigureAwait(false);

            var sidecars = plan.Replicas.Where(r => !callers.Contains(r.Instance)).Select(r => (r.Instance, r.AdminUrl)).ToList();
            var busy = await InFlightRequests.WaitForNoneAsync(sidecars, drainDeadline - clock.Elapsed).ConfigureAwait(false);
            if (busy.Count > 0)
                log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"weft: drain deadline ({drainDeadline.TotalSeconds:0.#} s) passed with requests still inside apps: {InFlightRequests.Describe(busy)}; stopping them anyway"));
        }
        await supervisor.StopAllAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// Replicas whose app nobody calls: no workload lists its service upstream and the ingress does not
    /// serve it. The same rule decides which apps `weft up` waits for before "mesh ready".
    /// </summary>
    public static IReadOnlySet<string> CallerInstances(Topology topology, LaunchPlan plan)
    {
        var called = CalledServices(topology);
        return plan.Replicas.Where(r => !called.Contains(r.Workload.Service)).Select(r => r.Instance).ToHashSet(StringComparer.Ordinal);
    }

    /// <summary>Services some workload lists upstream, and the ingress's.</summary>
    public static IReadOnlySet<string> CalledServices(Topology topology)
    {
        var called = topology.Workloads.SelectMany(w => w.Upstreams).ToHashSet(StringComparer.Ordinal);
        if (topology.Ingress is { } ingress) called.Add(ingress.Service);
        return called;
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;
}
