using Weft.Model.Resources;
using Pb = Weft.Protocol.Discovery;

namespace Weft.Control.Translate;

/// <summary>
/// Turns the HTTPRoutes and GRPCRoutes attached to one parent into a route table in Gateway API
/// precedence order. Each match becomes its own proto route, because precedence is decided per match
/// (an Exact match of one rule beats a PathPrefix match of another, whatever their rule order).
/// </summary>
internal static class RouteTableBuilder
{
    /// <summary>The attached routes in precedence order, or when none attach, one catch-all route to <paramref name="fallback"/>.</summary>
    public static Pb.RouteTable Build(IReadOnlyList<Resource> attached, string fallbackNamespace, string fallbackService)
    {
        var candidates = new List<Candidate>();
        foreach (var resource in attached)
        {
            switch (resource)
            {
                case HttpRouteResource http:
                    AddHttp(http, candidates);
                    break;
                case GrpcRouteResource grpc:
                    AddGrpc(grpc, candidates);
                    break;
            }
        }

        var table = new Pb.RouteTable();
        if (candidates.Count == 0)
        {
            // GAMMA: with no route attached, a Service's clients reach the Service itself.
            var route = new Pb.Route { Name = "default/" + ClusterNames.ForService(fallbackNamespace, fallbackService) };
            route.Backends.Add(new Pb.WeightedCluster { Cluster = ClusterNames.ForService(fallbackNamespace, fallbackService), Weight = 1 });
            table.Routes.Add(route);
            return table;
        }

        // Gateway API: once routes attach, they alone decide; a request no match selects gets 404.
        candidates.Sort(Candidate.Precedence);
        foreach (var c in candidates) table.Routes.Add(c.Route);
        return table;
    }

    private static void AddHttp(HttpRouteResource route, List<Candidate> into)
    {
        var meta = route.Metadata;
        for (var r = 0; r < route.Spec.Rules.Count; r++)
        {
            var rule = route.Spec.Rules[r];
            for (var m = 0; m < rule.Matches.Count; m++)
            {
                var match = rule.Matches[m];
                var pm = new Pb.RouteMatch { Path = Path(match.Path.Type, match.Path.Value), Method = match.Method ?? "" };
                foreach (var h in match.Headers) pm.Headers.Add(new Pb.HeaderMatch { Kind = HeaderKind(h.Type), Name = h.Name, Value = h.Value });
                foreach (var q in match.QueryParams) pm.QueryParams.Add(new Pb.QueryMatch { Kind = QueryKind(q.Type), Name = q.Name, Value = q.Value });
                into.Add(new Candidate(
                    NewRoute(meta, r, m, pm, rule.BackendRefs, rule.Filters),
                    PathRank(match.Path.Type), match.Path.Value.Length, match.Method is null ? 0 : 1, 0,
                    match.Headers.Count, match.QueryParams.Count, meta.Namespace + "/" + meta.Name, r, m));
            }
        }
    }

    private static void AddGrpc(GrpcRouteResource route, List<Candidate> into)
    {
        var meta = route.Metadata;
        for (var r = 0; r < route.Spec.Rules.Count; r++)
        {
            var rule = route.Spec.Rules[r];
            for (var m = 0; m < rule.Matches.Count; m++)
            {
                var match = rule.Matches[m];
                var grpc = GrpcPath(match.Method);
                var pm = new Pb.RouteMatch { Path = grpc.Path, Method = "POST" };
                foreach (var h in match.Headers) pm.Headers.Add(new Pb.HeaderMatch { Kind = HeaderKind(h.Type), Name = h.Name, Value = h.Value });
                into.Add(new Candidate(
                    NewRoute(meta, r, m, pm, rule.BackendRefs, rule.Filters),
                    grpc.Rank, grpc.SortLength, 1, grpc.NamesMethod ? 1 : 0, match.Headers.Count, 0, meta.Namespace + "/" + meta.Name, r, m));
            }
        }
    }

    // gRPC calls are POST /<service>/<method>: a GRPCMethodMatch is a path match on that. The sort keys
    // follow GRPCRoute precedence (longest matching service, then longest matching method, then header
    // count), not the path's own shape: a method-only match is a regex on the wire, yet it ranks below
    // every match that names a service and above a match on nothing, whatever their headers.
    private static (Pb.PathMatch Path, int Rank, int SortLength, bool NamesMethod) GrpcPath(GrpcMethodMatch? method)
    {
        if (method is null || (method.Service is null && method.Method is null))
            return (Path(PathMatchType.PathPrefix, "/"), PathRank(PathMatchType.PathPrefix), 1, false);
        if (method.Type == StringMatchType.RegularExpression)
        {
            // Each part grouped, so an alternation in one ("a|b") stays inside its own segment; the
            // proxy anchors the whole pattern, not each alternative.
            var regex = "/(?:" + (method.Service ?? "[^/]+") + ")/(?:" + (method.Method ?? "[^/]+") + ")";
            return (Path(PathMatchType.RegularExpression, regex), PathRank(PathMatchType.RegularExpression), regex.Length, method.Method is not null);
        }
        if (method.Method is null)
        {
            var prefix = "/" + method.Service;
            return (Path(PathMatchType.PathPrefix, prefix), PathRank(PathMatchType.PathPrefix), prefix.Length, false);
        }
        if (method.Service is null)
        {
            var any = "/[^/]+/" + System.Text.RegularExpressions.Regex.Escape(method.Method);
            // Matches no service's characters: sorts with the catch-all ("/", length 1), ahead of it by naming a method.
            return (Path(PathMatchType.RegularExpression, any), PathRank(PathMatchType.PathPrefix), 1, true);
        }
        var exact = "/" + method.Service + "/" + method.Method;
        return (Path(PathMatchType.Exact, exact), PathRank(PathMatchType.Exact), exact.Length, true);
    }

    private static Pb.Route NewRoute(ObjectMeta meta, int rule, int match, Pb.RouteMatch pm, EquatableList<BackendRef> backends, EquatableList<RouteFilter> filters)
    {
        var route = new Pb.Route { Name = $"{meta.Namespace}/{meta.Name}/rule/{rule}/match/{match}" };
        route.Matches.Add(pm);
        foreach (var b in backends)
        {
            if (b.Group.Length != 0 || b.Kind != ResourceKinds.Service) continue; // only Services are backends today
            route.Backends.Add(new Pb.WeightedCluster { Cluster = ClusterNames.ForService(b.Namespace, b.Name), Weight = (uint)b.Weight });
        }
        foreach (var f in filters)
        {
            if (f.RequestHeaderModifier is { } req) AddModifiers(req, route.RequestHeaderModifiers);
            if (f.ResponseHeaderModifier is { } resp) AddModifiers(resp, route.ResponseHeaderModifiers);
        }
        return route;
    }

    private static void AddModifiers(HeaderModifier modifier, Google.Protobuf.Collections.RepeatedField<Pb.HeaderModifier> into)
    {
        foreach (var h in modifier.Set) into.Add(new Pb.HeaderModifier { Op = Pb.HeaderModifier.Types.Op.Set, Name = h.Name, Value = h.Value });
        foreach (var h in modifier.Add) into.Add(new Pb.HeaderModifier { Op = Pb.HeaderModifier.Types.Op.Add, Name = h.Name, Value = h.Value });
        foreach (var n in modifier.Remove) into.Add(new Pb.HeaderModifier { Op = Pb.HeaderModifier.Types.Op.Remove, Name = n });
    }

    private static Pb.PathMatch Path(PathMatchType type, string value) => new()
    {
        Kind = type switch
        {
            PathMatchType.Exact => Pb.PathMatch.Types.Kind.Exact,
            PathMatchType.RegularExpression => Pb.PathMatch.Types.Kind.Regex,
            _ => Pb.PathMatch.Types.Kind.Prefix,
        },
        Value = value,
    };

    // Exact before regular expression before prefix, as Envoy Gateway orders them; the Gateway API
    // leaves regular expressions' place to the implementation.
    private static int PathRank(PathMatchType type) => type switch
    {
        PathMatchType.Exact => 0,
        PathMatchType.RegularExpression => 1,
        _ => 2,
    };

    private static Pb.HeaderMatch.Types.Kind HeaderKind(StringMatchType t) =>
        t == StringMatchType.RegularExpression ? Pb.HeaderMatch.Types.Kind.Regex : Pb.HeaderMatch.Types.Kind.Exact;

    private static Pb.QueryMatch.Types.Kind QueryKind(StringMatchType t) =>
        t == StringMatchType.RegularExpression ? Pb.QueryMatch.Types.Kind.Regex : Pb.QueryMatch.Types.Kind.Exact;

    /// <summary>
    /// One match with the facts that order it (Gateway API HTTPRoute "rule precedence"). A gRPC match is
    /// an HTTP POST match (HasMethod 1, so it keeps ahead of a plain HTTP match on the same path), and
    /// NamesGrpcMethod puts a match naming a gRPC method ahead of one that does not.
    /// </summary>
    private sealed record Candidate(Pb.Route Route, int PathRank, int PathLength, int HasMethod, int NamesGrpcMethod, int Headers, int Queries, string RouteName, int Rule, int Match)
    {
        public static int Precedence(Candidate a, Candidate b)
        {
            int c;
            if ((c = a.PathRank.CompareTo(b.PathRank)) != 0) return c;
            if ((c = b.PathLength.CompareTo(a.PathLength)) != 0) return c;   // longer path first
            if ((c = b.HasMethod.CompareTo(a.HasMethod)) != 0) return c;
            if ((c = b.NamesGrpcMethod.CompareTo(a.NamesGrpcMethod)) != 0) return c; // GRPCRoute: method before headers
            if ((c = b.Headers.CompareTo(a.Headers)) != 0) return c;
            if ((c = b.Queries.CompareTo(a.Queries)) != 0) return c;
            // The API's next tie-breaker is creation time; resources here carry none, so name order decides.
            if ((c = string.CompareOrdinal(a.RouteName, b.RouteName)) != 0) return c;
            if ((c = a.Rule.CompareTo(b.Rule)) != 0) return c;
            return a.Match.CompareTo(b.Match);
        }
    }
}
