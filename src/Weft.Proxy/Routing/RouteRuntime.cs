using Weft.Proxy.Pipeline;
using Weft.Proxy.Upstream;

namespace Weft.Proxy.Routing;

/// <summary>An ordered route table: the control plane already sorted it by Gateway API precedence.</summary>
internal sealed class RouteTableRuntime
{
    public static readonly RouteTableRuntime Empty = new("", []);

    public RouteTableRuntime(string name, RouteRuntime[] routes)
    {
        Name = name;
        Routes = routes;
    }

    public string Name { get; }
    public RouteRuntime[] Routes { get; }

    /// <summary>The first route with a holding match, or null (404 no_route).</summary>
    public RouteRuntime? Select(RequestContext request)
    {
        var routes = Routes;
        for (var i = 0; i < routes.Length; i++)
        {
            if (routes[i].Matches(request))
                return routes[i];
        }
        return null;
    }
}

/// <summary>One route: any-of matches, weighted backends, header modifiers.</summary>
internal sealed class RouteRuntime
{
    public RouteRuntime(string name, RouteMatcher[] matchers, WeightedBackend[] backends,
        HeaderModifierRuntime[] requestModifiers, HeaderModifierRuntime[] responseModifiers)
    {
        Name = name;
        Matchers = matchers;
        Backends = backends;
        RequestModifiers = requestModifiers;
        ResponseModifiers = responseModifiers;
        long total = 0;
        for (var i = 0; i < backends.Length; i++)
            total += backends[i].Weight;
        TotalWeight = (int)Math.Min(total, int.MaxValue);
    }

    public string Name { get; }
    public RouteMatcher[] Matchers { get; }
    public WeightedBackend[] Backends { get; }
    public int TotalWeight { get; }
    public HeaderModifierRuntime[] RequestModifiers { get; }
    public HeaderModifierRuntime[] ResponseModifiers { get; }

    public bool Matches(RequestContext request)
    {
        var matchers = Matchers;
        if (matchers.Length == 0)
            return true;
        for (var i = 0; i < matchers.Length; i++)
        {
            if (matchers[i].Matches(request))
                return true;
        }
        return false;
    }

    /// <summary>
    /// A weighted pick; <paramref name="roll"/> is uniform in [0, TotalWeight). Null when no backend
    /// carries weight (the proxy answers 500).
    /// </summary>
    public WeightedBackend? PickBackend(int roll)
    {
        var backends = Backends;
        for (var i = 0; i < backends.Length; i++)
        {
            roll -= backends[i].Weight;
            if (roll < 0)
                return backends[i];
        }
        return null;
    }
}

/// <summary>A route's backend; Cluster is null when the route names a cluster the config lacks (500, Gateway API "backend not found").</summary>
internal sealed class WeightedBackend(string clusterName, int weight, ClusterRuntime? cluster)
{
    public string ClusterName { get; } = clusterName;
    public int Weight { get; } = weight;
    public ClusterRuntime? Cluster { get; } = cluster;
}
