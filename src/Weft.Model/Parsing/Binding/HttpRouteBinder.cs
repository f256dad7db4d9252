using Weft.Model.Resources;

namespace Weft.Model.Parsing.Binding;

/// <summary>Binds and validates an HTTPRoute spec (Gateway API semantics, including its CEL rules).</summary>
internal static class HttpRouteBinder
{
    private static readonly RouteFilterType[] FilterTypes =
        [RouteFilterType.RequestHeaderModifier, RouteFilterType.ResponseHeaderModifier, RouteFilterType.RequestMirror, RouteFilterType.RequestRedirect, RouteFilterType.UrlRewrite];

    private static readonly RouteFilterType[] BackendFilterTypes =
        [RouteFilterType.RequestHeaderModifier, RouteFilterType.ResponseHeaderModifier, RouteFilterType.RequestMirror];

    private static readonly string[] Methods = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"];

    public static HttpRouteSpec Bind(ObjectReader spec, ObjectMeta meta)
    {
        var parents = RouteBinder.ParentRefs(spec, meta.Namespace);
        var hostnames = RouteBinder.Hostnames(spec);
        var names = new UniqueKeys("rule name");
        var rules = spec.List("rules", item => Rule(item, meta.Namespace, names), maxItems: 16);
        if (rules.Count == 0)
            rules = EquatableList.From([DefaultRule]);
        return new HttpRouteSpec(parents, hostnames, rules);
    }

    private static readonly HttpRouteRule DefaultRule = new(null, EquatableList.From([DefaultMatch()]),
        EquatableList<RouteFilter>.Empty, EquatableList<BackendRef>.Empty, null, null);

    private static HttpRouteMatch DefaultMatch() =>
        new(HttpPathMatch.Default, EquatableList<HeaderMatch>.Empty, EquatableList<HeaderMatch>.Empty, null);

    private static HttpRouteRule? Rule(NodeReader item, string ns, UniqueKeys names)
    {
        var o = item.AsObject("name", "matches", "filters", "backendRefs", "timeouts", "retry", "sessionPersistence");
        if (o is null) return null;
        var name = RouteBinder.RuleName(o, names);
        var matches = o.List("matches", Match, maxItems: 64);
        if (matches.Count == 0) matches = EquatableList.From([DefaultMatch()]);
        var filters = RouteBinder.Filters(o, ns, FilterTypes);
        var backends = RouteBinder.BackendRefs(o, ns, BackendFilterTypes);
        CheckFilterCombinations(o, filters, matches, backends);
        var timeouts = o.Object("timeouts", ["request", "backendRequest"], Timeouts);
        var retry = o.Object("retry", ["codes", "attempts", "backoff"], r =>
            new HttpRouteRetry(r.IntList("codes", 400, 599), r.Int("attempts", 0, 1000), r.Duration("backoff")));
        return new HttpRouteRule(name, matches, filters, backends, timeouts, retry);
    }

    private static HttpRouteMatch? Match(NodeReader item)
    {
        var o = item.AsObject("path", "headers", "queryParams", "method");
        if (o is null) return null;
        var path = o.Object("path", ["type", "value"], PathMatch) ?? HttpPathMatch.Default;
        var headers = RouteBinder.HeaderMatches(o, "headers", isHeader: true);
        var query = RouteBinder.HeaderMatches(o, "queryParams", isHeader: false);
        var method = o.String("method");
        if (method is not null && Array.IndexOf(Methods, method) < 0)
            o.Error("method", $"unsupported method \"{method}\"{FieldSuggestion.Hint(method, Methods)}; expected one of {string.Join(", ", Methods)}");
        return new HttpRouteMatch(path, headers, query, method);
    }

    private static HttpPathMatch PathMatch(ObjectReader o)
    {
        var type = o.Enum("type", PathMatchType.PathPrefix);
        var value = o.String("value") ?? "/";
        switch (type)
        {
            case PathMatchType.RegularExpression:
                RouteBinder.CheckRegex(o, "value", value);
                break;
            default:
                // Gateway API CEL: absolute, no "//", no "/./" or "/../", no '#' or '?'.
                if (!value.StartsWith('/')) o.Error("value", "must be an absolute path (start with \"/\")");
                else if (value.Contains("//", StringComparison.Ordinal) || value.Contains("/./", StringComparison.Ordinal)
                    || value.Contains("/../", StringComparison.Ordinal) || value.EndsWith("/..", StringComparison.Ordinal)
                    || value.EndsWith("/.", StringComparison.Ordinal))
                    o.Error("value", "must not contain \"//\", \"/./\" or \"/../\" segments");
                else if (value.Contains('#', StringComparison.Ordinal) || value.Contains('?', StringComparison.Ordinal))
                    o.Error("value", "must not contain '#' or '?'");
                break;
        }
        return new HttpPathMatch(type, value);
    }

    private static HttpRouteTimeouts Timeouts(ObjectReader o)
    {
        var request = o.Duration("request");
        var backend = o.Duration("backendRequest");
        // Gateway API CEL: backendRequest must not exceed request, unless request is 0 (no timeout).
        if (request is { } r && backend is { } b && r > TimeSpan.Zero && b > r)
            o.Error("backendRequest", $"must not be greater than request ({GatewayDuration.Format(r)})");
        return new HttpRouteTimeouts(request, backend);
    }

    // Gateway API CEL rules on a rule's filters.
    private static void CheckFilterCombinations(ObjectReader rule, EquatableList<RouteFilter> filters, EquatableList<HttpRouteMatch> matches, EquatableList<BackendRef> backends)
    {
        var redirect = filters.Any(f => f.Type == RouteFilterType.RequestRedirect);
        var rewrite = filters.FirstOrDefault(f => f.Type == RouteFilterType.UrlRewrite);
        if (redirect && rewrite is not null)
            rule.Error("filters", "RequestRedirect and URLRewrite filters cannot be used together");
        if (redirect && backends.Count > 0)
            rule.Error("backendRefs", "must be empty when the rule has a RequestRedirect filter");
        var prefixRewrite = filters.Any(f => f.RequestRedirect?.Path?.Type == PathModifierType.ReplacePrefixMatch
            || f.UrlRewrite?.Path?.Type == PathModifierType.ReplacePrefixMatch);
        if (prefixRewrite && (matches.Count != 1 || matches[0].Path.Type != PathMatchType.PathPrefix))
            rule.Error("filters", "ReplacePrefixMatch needs exactly one match, of path type PathPrefix");
    }
}
