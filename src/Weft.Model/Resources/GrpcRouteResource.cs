namespace Weft.Model.Resources;

/// <summary>`gateway.networking.k8s.io/v1` GRPCRoute, with the Gateway API's shape.</summary>
public sealed record GrpcRouteResource(ObjectMeta Metadata, GrpcRouteSpec Spec)
    : Resource(ApiVersions.GatewayApi, ResourceKinds.GrpcRoute, Metadata);

/// <param name="Rules">Never empty: an omitted list is one rule that matches every request.</param>
public sealed record GrpcRouteSpec(EquatableList<ParentReference> ParentRefs, EquatableList<string> Hostnames, EquatableList<GrpcRouteRule> Rules);

/// <param name="Matches">Never empty: omitted means one match with no conditions, which matches every request.</param>
/// <param name="Filters">RequestHeaderModifier, ResponseHeaderModifier and RequestMirror only, as in the Gateway API.</param>
public sealed record GrpcRouteRule(string? Name, EquatableList<GrpcRouteMatch> Matches, EquatableList<RouteFilter> Filters, EquatableList<BackendRef> BackendRefs);

/// <param name="Method">Null matches every method.</param>
public sealed record GrpcRouteMatch(GrpcMethodMatch? Method, EquatableList<HeaderMatch> Headers)
{
    public static readonly GrpcRouteMatch All = new(null, EquatableList<HeaderMatch>.Empty);
}

/// <summary>GRPCMethodMatch: at least one of Service and Method; a null one matches any.</summary>
public sealed record GrpcMethodMatch(StringMatchType Type, string? Service, string? Method);
