using Weft.Model.Resources;
using Weft.Model.Tests.Parsing;

namespace Weft.Model.Tests.Resources;

public class HttpRouteResourceTests
{
    private static readonly EquatableList<HeaderMatch> NoHeaders = EquatableList<HeaderMatch>.Empty;
    private static readonly EquatableList<RouteFilter> NoFilters = EquatableList<RouteFilter>.Empty;

    [Fact]
    public void Parses_a_gamma_route_with_weights_timeouts_and_retry()
    {
        var route = Yaml.Single<HttpRouteResource>("""
            apiVersion: gateway.networking.k8s.io/v1
            kind: HTTPRoute
            metadata: { name: catalog-split }
            spec:
              parentRefs:
                - { group: "", kind: Service, name: catalog, port: 80 }
              rules:
                - name: canary
                  matches:
                    - path: { type: Exact, value: /items }
                      headers: [{ name: x-canary, value: "yes" }]
                      queryParams: [{ type: RegularExpression, name: v, value: "^2$" }]
                      method: GET
                  backendRefs:
                    - { name: catalog-v1, port: 80, weight: 90 }
                    - { name: catalog-v2, port: 80, weight: 10 }
                  timeouts: { request: 10s, backendRequest: 500ms }
                  retry: { codes: [502, 503], attempts: 3, backoff: 100ms }
            """);
        var expected = new HttpRouteResource(
            new ObjectMeta("catalog-split", "default", EquatableMap.Empty),
            new HttpRouteSpec(
                Yaml.List(new ParentReference("", "Service", "default", "catalog", null, 80)),
                EquatableList<string>.Empty,
                Yaml.List(new HttpRouteRule(
                    "canary",
                    Yaml.List(new HttpRouteMatch(
                        new HttpPathMatch(PathMatchType.Exact, "/items"),
                        Yaml.List(new HeaderMatch(StringMatchType.Exact, "x-canary", "yes")),
                        Yaml.List(new HeaderMatch(StringMatchType.RegularExpression, "v", "^2$")),
                        "GET")),
                    NoFilters,
                    Yaml.List(
                        new BackendRef("", "Service", "catalog-v1", "default", 80, 90, NoFilters),
                        new BackendRef("", "Service", "catalog-v2", "default", 80, 10, NoFilters)),
                    new HttpRouteTimeouts(TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(500)),
                    new HttpRouteRetry(Yaml.List(502, 503), 3, TimeSpan.FromMilliseconds(100))))));
        Assert.Equal(expected, route);
        Assert.True(route.Spec.ParentRefs[0].IsService);
    }

    [Fact]
    public void Applies_gateway_api_defaults()
    {
        var route = Yaml.Single<HttpRouteResource>("""
            apiVersion: gateway.networking.k8s.io/v1
            kind: HTTPRoute
            metadata: { name: web, namespace: shop }
            spec:
              parentRefs: [{ name: ingress }]
              hostnames: [shop.example.com, "*.example.org"]
              rules:
                - backendRefs: [{ name: web }]
                - matches: [{ headers: [{ name: x-a, value: b }] }]
            """);
        var parent = route.Spec.ParentRefs[0];
        Assert.Equal(new ParentReference("gateway.networking.k8s.io", "Gateway", "shop", "ingress", null, null), parent);
        Assert.True(parent.IsGateway);
        var rule = route.Spec.Rules[0];
        Assert.Equal(new HttpRouteMatch(HttpPathMatch.Default, NoHeaders, NoHeaders, null), Assert.Single(rule.Matches));
        Assert.Equal(new BackendRef("", "Service", "web", "shop", null, 1, NoFilters), Assert.Single(rule.BackendRefs));
        Assert.Null(rule.Timeouts);
        Assert.Equal(HttpPathMatch.Default, route.Spec.Rules[1].Matches[0].Path);
        Assert.Equal(2, route.Spec.Hostnames.Count);
    }

    [Fact]
    public void Omitted_rules_default_to_one_prefix_rule()
    {
        var route = Yaml.Single<HttpRouteResource>("""
            apiVersion: gateway.networking.k8s.io/v1
            kind: HTTPRoute
            metadata: { name: r }
            spec: { parentRefs: [{ group: "", kind: Service, name: a }] }
            """);
        var rule = Assert.Single(route.Spec.Rules);
        Assert.Equal(HttpPathMatch.Default, Assert.Single(rule.Matches).Path);
        Assert.Empty(rule.BackendRefs);
    }

    [Fact]
    public void Parses_every_filter_type()
    {
        var route = Yaml.Single<HttpRouteResource>("""
            apiVersion: gateway.networking.k8s.io/v1
            kind: HTTPRoute
            metadata: { name: filters }
            spec:
              rules:
                - matches: [{ path: { type: PathPrefix, value: /old } }]
                  filters:
                    - type: RequestHeaderModifier
                      requestHeaderModifier:
                        set: [{ name: x-set, value: "1" }]
                        add: [{ name: x-add, value: "2" }]
                        remove: [x-remove]
                    - type: ResponseHeaderModifier
                      responseHeaderModifier: { remove: [server] }
                    - type: RequestMirror
                      requestMirror: { backendRef: { name: shadow, port: 80 }, percent: 10 }
                    - type: URLRewrite
                      urlRewrite: { hostname: new.example.com, path: { type: ReplacePrefixMatch, replacePrefixMatch: /new } }
                  backendRefs:
                    - name: web
                      filters: [{ type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: x-b, value: c }] } }]
                - matches: [{ path: { value: /moved } }]
                  filters:
                    - type: RequestRedirect
                      requestRedirect: { scheme: https, hostname: example.com, port: 443, statusCode: 301, path: { type: ReplaceFullPath, replaceFullPath: /here } }
            """);
        var filters = route.Spec.Rules[0].Filters;
        Assert.Equal(4, filters.Count);
        Assert.Equal(new HeaderModifier(
            Yaml.List(new HttpHeader("x-set", "1")), Yaml.List(new HttpHeader("x-add", "2")), Yaml.List("x-remove")), filters[0].RequestHeaderModifier);
        Assert.Equal(RouteFilterType.ResponseHeaderModifier, filters[1].Type);
        Assert.Equal(new RequestMirror(new BackendObjectReference("", "Service", "shadow", "default", 80), 10, null), filters[2].RequestMirror);
        Assert.Equal(new UrlRewrite("new.example.com", new HttpPathModifier(PathModifierType.ReplacePrefixMatch, null, "/new")), filters[3].UrlRewrite);
        Assert.Single(route.Spec.Rules[0].BackendRefs[0].Filters);
        Assert.Equal(new RequestRedirect("https", "example.com", new HttpPathModifier(PathModifierType.ReplaceFullPath, "/here", null), 443, 301),
            route.Spec.Rules[1].Filters[0].RequestRedirect);
        Assert.Equal(PathMatchType.PathPrefix, route.Spec.Rules[1].Matches[0].Path.Type);
    }

    [Fact]
    public void Weight_out_of_range_is_reported_at_its_path_and_line()
    {
        var e = Yaml.Error("""
            apiVersion: gateway.networking.k8s.io/v1
            kind: HTTPRoute
            metadata:
              name: split
            spec:
              parentRefs:
                - group: ""
                  kind: Service
                  name: catalog
              rules:
                - backendRefs:
                    - name: catalog-v1
                    - name: catalog-v2
                      weight: 2000000
            """);
        Assert.Equal("spec.rules[0].backendRefs[1].weight", e.Path);
        Assert.Equal(14, e.Line);
        Assert.Equal(19, e.Column);
        Assert.Equal("test.yaml", e.File);
        Assert.Equal(0, e.Document);
        Assert.Contains("between 0 and 1000000", e.Message);
    }

    [Fact]
    public void A_regex_the_proxies_cannot_run_is_rejected_at_apply()
    {
        // Backreferences need backtracking; proxies run route regexes in linear time and would NACK it.
        var e = Yaml.Error("""
            apiVersion: gateway.networking.k8s.io/v1
            kind: HTTPRoute
            metadata: { name: r }
            spec:
              rules:
                - matches: [{ path: { type: RegularExpression, value: '/(a)\1' } }]
            """);
        Assert.Equal("spec.rules[0].matches[0].path.value", e.Path);
        Assert.StartsWith("invalid regular expression", e.Message);
    }

    [Fact]
    public void Unknown_field_suggests_the_closest_name()
    {
        var e = Yaml.Error("""
            apiVersion: gateway.networking.k8s.io/v1
            kind: HTTPRoute
            metadata: { name: r }
            spec:
              rules:
                - matchez: [{ path: { value: / } }]
            """);
        Assert.Equal("spec.rules[0].matchez", e.Path);
        Assert.Equal(6, e.Line);
        Assert.Equal("unknown field; did you mean \"matches\"?", e.Message);
        Assert.Equal("test.yaml:6:7: spec.rules[0].matchez: unknown field; did you mean \"matches\"?", e.ToString());
    }

    [Fact]
    public void Reports_every_error_in_a_route()
    {
        var errors = Yaml.Errors("""
            apiVersion: gateway.networking.k8s.io/v1
            kind: HTTPRoute
            metadata: { name: bad }
            spec:
              parentRefs: [{ kind: Deployment, name: x }]
              hostnames: ["Not_A_Host"]
              rules:
                - matches:
                    - path: { type: Prefix, value: /a }
                      method: FETCH
                    - path: { type: Exact, value: relative }
                      headers: [{ type: RegularExpression, name: "bad header", value: "(" }]
                  filters:
                    - type: RequestRedirect
                      requestRedirect: { statusCode: 200 }
                    - type: URLRewrite
                      requestHeaderModifier: { remove: [a] }
                  backendRefs:
                    - { kind: Pod, name: p }
                  timeouts: { request: 1s, backendRequest: 2s }
                  retry: { codes: [200], backoff: soon }
            """);
        string[] paths =
        [
            "spec.parentRefs[0].kind", "spec.hostnames[0]",
            "spec.rules[0].matches[0].path.type", "spec.rules[0].matches[0].method",
            "spec.rules[0].matches[1].path.value",
            "spec.rules[0].matches[1].headers[0].name", "spec.rules[0].matches[1].headers[0].value",
            "spec.rules[0].filters[0].requestRedirect.statusCode",
            "spec.rules[0].filters[1].requestHeaderModifier", "spec.rules[0].filters[1].urlRewrite",
            "spec.rules[0].backendRefs", "spec.rules[0].backendRefs[0].kind",
            "spec.rules[0].timeouts.backendRequest",
            "spec.rules[0].retry.codes[0]", "spec.rules[0].retry.backoff",
        ];
        foreach (var path in paths) errors.At(path);
        Assert.Equal(paths.Length, errors.Count);
        Assert.Equal(9, errors.At("spec.rules[0].matches[0].path.type").Line);
        Assert.Contains("did you mean \"PathPrefix\"", errors.At("spec.rules[0].matches[0].path.type").Message);
    }

    [Fact]
    public void Redirect_and_rewrite_together_are_rejected()
    {
        var errors = Yaml.Errors("""
            apiVersion: gateway.networking.k8s.io/v1
            kind: HTTPRoute
            metadata: { name: r }
            spec:
              rules:
                - filters:
                    - { type: RequestRedirect, requestRedirect: { scheme: https } }
                    - { type: URLRewrite, urlRewrite: { hostname: a.b } }
                    - { type: URLRewrite, urlRewrite: { hostname: c.d } }
            """);
        Assert.Contains("cannot be used together", errors.At("spec.rules[0].filters").Message);
        Assert.Contains("duplicate filter of type", errors.At("spec.rules[0].filters[2]").Message);
    }
}

public class HttpRouteLimitTests
{
    [Fact]
    public void Gateway_api_list_limits_apply()
    {
        var hostnames = string.Join(", ", Enumerable.Range(0, 17).Select(i => $"h{i}.example.com"));
        var e = Yaml.Error($"""
            apiVersion: gateway.networking.k8s.io/v1
            kind: HTTPRoute
            metadata: {"{"} name: r {"}"}
            spec:
              hostnames: [{hostnames}]
            """);
        Assert.Equal(("spec.hostnames", 5, "at most 16 items are allowed, got 17"), (e.Path, e.Line, e.Message));
    }

    [Fact]
    public void Zero_backend_timeout_is_allowed_and_greater_than_request_is_not()
    {
        Yaml.Single<HttpRouteResource>("""
            apiVersion: gateway.networking.k8s.io/v1
            kind: HTTPRoute
            metadata: { name: r }
            spec: { rules: [{ timeouts: { request: 5s, backendRequest: 0s } }] }
            """);
        var e = Yaml.Error("""
            apiVersion: gateway.networking.k8s.io/v1
            kind: HTTPRoute
            metadata: { name: r }
            spec: { rules: [{ timeouts: { request: 5s, backendRequest: 6s } }] }
            """);
        Assert.Equal("spec.rules[0].timeouts.backendRequest", e.Path);
    }

    [Fact]
    public void Errors_come_sorted_by_line()
    {
        var errors = Yaml.Errors("""
            kind: HTTPRoute
            apiVersion: weft.dev/v1
            metadata: { name: R }
            """);
        Assert.Equal(errors.OrderBy(e => e.Line).ThenBy(e => e.Column), errors);
        Assert.Equal(3, errors.Count); // apiVersion, metadata.name, spec
    }
}

public class HttpRouteParentTests
{
    [Fact]
    public void Service_parent_without_core_group_gets_a_hint()
    {
        var e = Yaml.Error("""
            apiVersion: gateway.networking.k8s.io/v1
            kind: HTTPRoute
            metadata: { name: r }
            spec:
              parentRefs:
                - kind: Service
                  name: catalog
            """);
        Assert.Equal(("spec.parentRefs[0].group", 6), (e.Path, e.Line));
        Assert.Contains("group: \"\"", e.Message);
    }

    [Fact]
    public void Anchors_and_explicit_nulls_work()
    {
        var route = Yaml.Single<HttpRouteResource>("""
            apiVersion: gateway.networking.k8s.io/v1
            kind: HTTPRoute
            metadata: { name: r }
            spec:
              parentRefs: [&svc { group: "", kind: Service, name: catalog }]
              hostnames: ~
              rules:
                - backendRefs: [{ name: catalog, weight: null, port: 80 }]
                - backendRefs: [{ name: catalog-v2, port: 80 }]
                  matches: [{ path: { type: Exact, value: /x } }]
            """);
        Assert.Empty(route.Spec.Hostnames);
        Assert.Equal(1, route.Spec.Rules[0].BackendRefs[0].Weight);
    }
}
