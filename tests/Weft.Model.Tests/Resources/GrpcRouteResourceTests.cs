using Weft.Model.Resources;
using Weft.Model.Tests.Parsing;

namespace Weft.Model.Tests.Resources;

public class GrpcRouteResourceTests
{
    [Fact]
    public void Parses_method_and_header_matches_and_backends()
    {
        var route = Yaml.Single<GrpcRouteResource>("""
            apiVersion: gateway.networking.k8s.io/v1
            kind: GRPCRoute
            metadata: { name: ratings-grpc }
            spec:
              parentRefs: [{ group: "", kind: Service, name: ratings }]
              rules:
                - matches:
                    - method: { service: shop.Ratings, method: Get }
                      headers: [{ name: x-user, value: alice }]
                    - method: { type: RegularExpression, service: "shop\\..*" }
                  filters:
                    - { type: RequestHeaderModifier, requestHeaderModifier: { add: [{ name: x-via, value: weft }] } }
                  backendRefs:
                    - { name: ratings-v2, port: 9090, weight: 5 }
                - backendRefs: [{ name: ratings, port: 9090 }]
            """);
        var first = route.Spec.Rules[0];
        Assert.Equal(new GrpcRouteMatch(new GrpcMethodMatch(StringMatchType.Exact, "shop.Ratings", "Get"),
            Yaml.List(new HeaderMatch(StringMatchType.Exact, "x-user", "alice"))), first.Matches[0]);
        Assert.Equal(new GrpcMethodMatch(StringMatchType.RegularExpression, "shop\\..*", null), first.Matches[1].Method);
        Assert.Equal(new BackendRef("", "Service", "ratings-v2", "default", 9090, 5, EquatableList<RouteFilter>.Empty), Assert.Single(first.BackendRefs));
        Assert.Equal(RouteFilterType.RequestHeaderModifier, Assert.Single(first.Filters).Type);
        Assert.Equal(GrpcRouteMatch.All, Assert.Single(route.Spec.Rules[1].Matches));
        Assert.Equal(ApiVersions.GatewayApi, route.ApiVersion);
    }

    [Fact]
    public void Rejects_http_only_filters_and_bad_method_matches()
    {
        var errors = Yaml.Errors("""
            apiVersion: gateway.networking.k8s.io/v1
            kind: GRPCRoute
            metadata: { name: r }
            spec:
              rules:
                - matches:
                    - method: { type: Exact }
                    - method: { service: "bad service", method: "a/b" }
                  filters:
                    - { type: URLRewrite, urlRewrite: { hostname: a.b } }
                  backendRefs: [{ name: ratings, weight: -1 }]
            """);
        Assert.Contains("one of service or method", errors.At("spec.rules[0].matches[0].method").Message);
        errors.At("spec.rules[0].matches[1].method.service");
        errors.At("spec.rules[0].matches[1].method.method");
        Assert.Contains("not allowed here", errors.At("spec.rules[0].filters[0].type").Message);
        Assert.Equal(11, errors.At("spec.rules[0].backendRefs[0].weight").Line);
        Assert.Equal(5, errors.Count);
    }
}
