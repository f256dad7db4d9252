using System.Collections.Immutable;
using Weft.Control.Registry;
using Weft.Control.Store;
using Weft.Model.Resources;

namespace Weft.Control.Translate;

/// <summary>
/// Config and registry arranged for translation: Services by name, routes by what they attach to,
/// workloads by namespace. Built once per (config revision, registry generation) and shared by every
/// proxy's translation, so a push to a thousand proxies parses nothing twice.
/// </summary>
public sealed class MeshIndex
{
    private static readonly ImmutableArray<Resource> NoRoutes = [];

    private readonly Dictionary<(string Ns, string Name), ServiceResource> _services = new();
    private readonly Dictionary<(string Ns, string Name), List<Resource>> _serviceRoutes = new();
    private readonly Dictionary<(string Ns, string Name), List<Resource>> _gatewayRoutes = new();
    private readonly List<AuthorizationPolicyResource> _authorization = [];

    public MeshIndex(ConfigSnapshot config, RegistrySnapshot registry)
    {
        Config = config;
        Registry = registry;
        // Ordinal key order makes every list below, and so translation, deterministic.
        foreach (var resource in config.Resources.Values.OrderBy(r => r.Key.ToString(), StringComparer.Ordinal))
        {
            switch (resource)
            {
                case ServiceResource s:
                    _services[(s.Metadata.Namespace, s.Metadata.Name)] = s;
                    break;
                case HttpRouteResource r:
                    Attach(r, r.Spec.ParentRefs);
                    break;
                case GrpcRouteResource r:
                    Attach(r, r.Spec.ParentRefs);
                    break;
                case MeshConfigResource m:
                    MeshConfig = m.Spec;
                    break;
                case AuthorizationPolicyResource a:
                    _authorization.Add(a);
                    break;
            }
        }
    }

    public ConfigSnapshot Config { get; }
    public RegistrySnapshot Registry { get; }

    /// <summary>The MeshConfig's spec, or every default when none is applied.</summary>
    public MeshConfigSpec MeshConfig { get; } = MeshConfigSpec.Default;

    /// <summary>Every declared Service, in (namespace, name) order.</summary>
    public IEnumerable<ServiceResource> Services =>
        _services.OrderBy(s => s.Key.Ns, StringComparer.Ordinal).ThenBy(s => s.Key.Name, StringComparer.Ordinal).Select(s => s.Value);

    /// <summary>Each declared Service's virtual IP (transparent interception); computed once per index.</summary>
    public ImmutableDictionary<(string Namespace, string Name), string> Vips => _vips ??= ServiceVips.Allocate(_services.Keys);

    private ImmutableDictionary<(string Namespace, string Name), string>? _vips;

    /// <summary>Every AuthorizationPolicy, in (namespace, name) order.</summary>
    public IReadOnlyList<AuthorizationPolicyResource> AuthorizationPolicies => _authorization;

    public ServiceResource? Service(string ns, string name) => _services.GetValueOrDefault((ns, name));

    /// <summary>HTTPRoutes and GRPCRoutes whose parentRefs name this Service (GAMMA mesh routing).</summary>
    public IReadOnlyList<Resource> RoutesForService(string ns, string name) =>
        _serviceRoutes.TryGetValue((ns, name), out var list) ? list : NoRoutes;

    /// <summary>Routes whose parentRefs name this Gateway (ingress routing).</summary>
    public IReadOnlyList<Resource> RoutesForGateway(string ns, string name) =>
        _gatewayRoutes.TryGetValue((ns, name), out var list) ? list : NoRoutes;

    /// <summary>
    /// The selector of a Service; a service no Service resource declares selects <c>{app: name}</c>,
    /// the label every workload of that service carries, so `weft proxy` works without config.
    /// </summary>
    public EquatableMap SelectorOf(string ns, string name) =>
        Service(ns, name)?.Spec.Selector ?? EquatableMap.From([new(Workload.AppLabel, name)]);

    /// <summary>Sidecar workloads in the namespace whose labels the Service's selector selects, draining ones included.</summary>
    public IEnumerable<Workload> WorkloadsOf(string ns, string name)
    {
        var selector = SelectorOf(ns, name);
        foreach (var w in Registry.Workloads.Values)
        {
            if (w.Role == "sidecar" && w.InboundPort != 0 && w.Namespace == ns && w.Labels.Contains(selector))
                yield return w;
        }
    }

    /// <summary>The Service's endpoints: its workloads but those being drained (<see cref="RegistrySnapshot.Draining"/>).</summary>
    public IEnumerable<Workload> EndpointsOf(string ns, string name) =>
        WorkloadsOf(ns, name).Where(w => !Registry.Draining.Contains(w.InstanceId));

    private void Attach(Resource route, EquatableList<ParentReference> parents)
    {
        foreach (var parent in parents)
        {
            // Only a route of the parent's own namespace attaches. A route from another namespace is a
            // GAMMA consumer route (it applies to clients in the route's namespace, and a client here
            // only reaches Services of its own namespace), or a Gateway attachment that a listener's
            // default allowedRoutes (Same) refuses. Attaching it would let any namespace steer
            // another's traffic.
            if (parent.Namespace != route.Metadata.Namespace) continue;
            var target = parent.IsService ? _serviceRoutes : parent.IsGateway ? _gatewayRoutes : null;
            if (target is null) continue;
            var key = (parent.Namespace, parent.Name);
            if (!target.TryGetValue(key, out var list)) target[key] = list = [];
            if (!list.Contains(route)) list.Add(route);
        }
    }
}
