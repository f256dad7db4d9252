using Weft.Model.Resources;

namespace Weft.Model.Topology;

/// <summary>
/// The Services a topology creates (CONTRACT: "the Service it serves, created if not declared in
/// config"): one per (namespace, service) that no declared Service already names.
/// </summary>
public static class ImpliedServices
{
    /// <summary>Services for <paramref name="topology"/>'s workloads missing from <paramref name="declared"/>, in workload order.</summary>
    public static IReadOnlyList<ServiceResource> From(Topology topology, IEnumerable<Resource> declared)
    {
        ArgumentNullException.ThrowIfNull(topology);
        var known = declared.OfType<ServiceResource>().Select(s => s.Key).ToHashSet();
        var result = new List<ServiceResource>();
        foreach (var w in topology.Workloads)
        {
            var meta = new ObjectMeta(w.Service, w.Namespace, EquatableMap.Empty);
            var service = new ServiceResource(meta, new ServiceSpec(
                EquatableList.From([new ServicePort(null, w.Port, Protocol(w.Protocol), null)]),
                EquatableMap.From([new("app", w.Service)])));
            if (known.Add(service.Key)) result.Add(service);
        }
        return result;
    }

    private static AppProtocol Protocol(string protocol) =>
        Weft.Model.Parsing.WireEnum<AppProtocol>.TryParse(protocol, out var p) ? p : AppProtocol.Http;
}
