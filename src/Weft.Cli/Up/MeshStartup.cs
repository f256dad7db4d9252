namespace Weft.Cli.Up;

/// <summary>
/// Starts a plan's processes in the order the mesh needs: each sidecar first, its app only once the
/// sidecar's admin /ready says it holds config (so the app's first calls already go through the
/// mesh) and the apps it calls listen (so its first calls find them), replicas side by side; then the
/// ingress gateway. The control plane is up before this.
/// </summary>
internal static class MeshStartup
{
    /// <summary>
    /// Throws TimeoutException naming the sidecar (with its last output) that was not ready in time.
    /// On Ctrl-C during start: cancel the token, await this (OperationCanceledException), then StopAllAsync.
    /// </summary>
    public static async Task StartAsync(LaunchPlan plan, ProcessSupervisor supervisor, WeftCommandLine weft,
        TimeSpan readyDeadline, CancellationToken cancellationToken = default)
    {
        var awaits = AppListening.UpstreamsToAwait(plan.Replicas.Select(r => (r.Workload.Service, r.Workload.Upstreams)));
        await Task.WhenAll(plan.Replicas.Select(async replica =>
        {
            cancellationToken.ThrowIfCancellationRequested();
            var proxy = supervisor.Start(replica.ProxyProcess(weft));
            await WaitReadyAsync(proxy, replica.AdminReadyUrl, readyDeadline, cancellationToken);
            var upstreams = awaits.GetValueOrDefault(replica.Workload.Service) ?? [];
            await AppListening.WaitAsync(plan.Replicas.Where(r => upstreams.Contains(r.Workload.Service)), readyDeadline, cancellationToken);
            cancellationToken.ThrowIfCancellationRequested();
            supervisor.Start(replica.AppProcess());
        }));
        if (plan.Gateway is { } gateway)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var proxy = supervisor.Start(gateway.ProxyProcess(weft));
            await WaitReadyAsync(proxy, gateway.AdminReadyUrl, readyDeadline, cancellationToken);
        }
    }

    private static async Task WaitReadyAsync(ManagedProcess proxy, Uri ready, TimeSpan deadline, CancellationToken cancellationToken)
    {
        if (await ReadinessProbe.WaitAsync(ready, deadline, cancellationToken)) return;
        var recent = proxy.RecentOutput();
        var tail = recent.Count == 0 ? " (it printed nothing)" : ":\n  " + string.Join("\n  ", recent.TakeLast(10));
        throw new TimeoutException($"{proxy.Spec.Name} was not ready at {ready} within {deadline.TotalSeconds:0.#} s{tail}");
    }
}
