using System.Text.RegularExpressions;
using Weft.Model.Resources;

namespace Weft.Model.Parsing.Binding;

/// <summary>Binds and validates a GRPCRoute spec (Gateway API semantics).</summary>
internal static partial class GrpcRouteBinder
{
    private static readonly RouteFilterType[] FilterTypes =
        [RouteFilterType.RequestHeaderModifier, RouteFilterType.ResponseHeaderModifier, RouteFilterType.RequestMirror];

    public static GrpcRouteSpec Bind(ObjectReader spec, ObjectMeta meta)
    {
        var parents = RouteBinder.ParentRefs(spec, meta.Namespace);
        var hostnames = RouteBinder.Hostnames(spec);
        var names = new UniqueKeys("rule name");
        var rules = spec.List("rules", item => Rule(item, meta.Namespace, names), maxItems: 16);
        if (rules.Count == 0)
            rules = EquatableList.From([new GrpcRouteRule(null, EquatableList.From([GrpcRouteMatch.All]), EquatableList<RouteFilter>.Empty, EquatableList<BackendRef>.Empty)]);
        return new GrpcRouteSpec(parents, hostnames, rules);
    }

    private static GrpcRouteRule? Rule(NodeReader item, string ns, UniqueKeys names)
    {
        var o = item.AsObject("name", "matches", "filters", "backendRefs", "sessionPersistence");
        if (o is null) return null;
        var name = RouteBinder.RuleName(o, names);
        var matches = o.List("matches", Match, maxItems: 64);
        if (matches.Count == 0) matches = EquatableList.From([GrpcRouteMatch.All]);
        var filters = RouteBinder.Filters(o, ns, FilterTypes);
        var backends = RouteBinder.BackendRefs(o, ns, FilterTypes);
        return new GrpcRouteRule(name, matches, filters, backends);
    }

    private static GrpcRouteMatch? Match(NodeReader item)
    {
        var o = item.AsObject("method", "headers");
        if (o is null) return null;
        var method = o.Object("method", ["type", "service", "method"], Method);
        return new GrpcRouteMatch(method, RouteBinder.HeaderMatches(o, "headers", isHeader: true));
    }

    private static GrpcMethodMatch Method(ObjectReader o)
    {
        var type = o.Enum("type", StringMatchType.Exact);
        var service = o.String("service");
        var method = o.String("method");
        if (service is null && method is null) o.Error("one of service or method is required");
        if (type == StringMatchType.Exact)
        {
            // Gateway API CEL: a fully qualified service name and a plain method name.
            if (service is not null && !ServiceName().IsMatch(service)) o.Error("service", $"invalid gRPC service name \"{service}\"");
            if (method is not null && !MethodName().IsMatch(method)) o.Error("method", $"invalid gRPC method name \"{method}\"");
        }
        else
        {
            if (service is not null) RouteBinder.CheckRegex(o, "service", service);
            if (method is not null) RouteBinder.CheckRegex(o, "method", method);
        }
        return new GrpcMethodMatch(type, service, method);
    }

    [GeneratedRegex(@"^(?i)\.?[a-z_][a-z_0-9]*(\.[a-z_][a-z_0-9]*)*$")]
    private static partial Regex ServiceName();

    [GeneratedRegex("^[A-Za-z_][A-Za-z_0-9]*$")]
    private static partial Regex MethodName();
}
