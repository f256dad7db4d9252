using System.Diagnostics;
using System.Text.Json;
using Weft.Control.Translate;

namespace Weft.Cli.Up;

/// <summary>
/// Whether proxies route to an instance, as they say themselves: their admin /clusters lists every
/// endpoint of every cluster with its <c>instance_id</c>. What `weft up` checks before and after it
/// takes a replica out of service.
/// </summary>
internal static class ProxyEndpoints
{
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan AttemptTimeout = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Whether a /clusters document lists <paramref name="instance"/> as an endpoint of a Service's cluster
    /// (a sidecar's own app, behind its inbound listener, is no endpoint the mesh routes to).
    /// </summary>
    public static bool Lists(string clusters, string instance)
    {
        using var json = JsonDocument.Parse(clusters);
        if (!json.RootElement.TryGetProperty("clusters", out var list)) return false;
        foreach (var cluster in list.EnumerateArray())
            if (!(cluster.TryGetProperty("name", out var name) && name.GetString() == ClusterNames.InboundApp) && cluster.TryGetProperty("endpoints", out var endpoints))
                foreach (var endpoint in endpoints.EnumerateArray())
                    if (endpoint.TryGetProperty("instance_id", out var id) && id.GetString() == instance) return true;
        return false;
    }

    /// <summary>Whether the proxy at <paramref name="admin"/> routes to <paramref name="instance"/>; null when it does not answer.</summary>
    public static async Task<bool?> ListsAsync(Uri admin, string instance, CancellationToken ct)
    {
        var text = await AdminHttp.GetStringAsync(new Uri(admin, "clusters"), AttemptTimeout, ct).ConfigureAwait(false);
        if (text is null) return null;
        try { return Lists(text, instance); }
        catch (JsonException) { return null; }
    }

    /// <summary>
    /// Polls until each proxy lists <paramref name="instance"/> (<paramref name="listed"/> true) or no longer
    /// does (false); a proxy that does not answer is not waited for. Returns the proxies that had not
    /// got there by <paramref name="deadline"/>, by name; empty when all did.
    /// </summary>
    public static async Task<IReadOnlyList<string>> WaitAsync(IReadOnlyList<(string Name, Uri Admin)> proxies, string instance, bool listed,
        TimeSpan deadline, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var states = await Task.WhenAll(proxies.Select(async p => (p.Name, Lists: await ListsAsync(p.Admin, instance, ct).ConfigureAwait(false)))).ConfigureAwait(false);
            var behind = states.Where(s => s.Lists is { } l && l != listed).Select(s => s.Name).ToList();
            if (behind.Count == 0 || clock.Elapsed + Poll > deadline) return behind;
            await Task.Delay(Poll, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Of <paramref name="proxies"/>, those that route to <paramref name="instance"/> now.</summary>
    public static async Task<IReadOnlyList<(string Name, Uri Admin)>> RoutingToAsync(IReadOnlyList<(string Name, Uri Admin)> proxies, string instance, CancellationToken ct)
    {
        var states = await Task.WhenAll(proxies.Select(async p => (Proxy: p, Lists: await ListsAsync(p.Admin, instance, ct).ConfigureAwait(false)))).ConfigureAwait(false);
        return states.Where(s => s.Lists == true).Select(s => s.Proxy).ToList();
    }
}
