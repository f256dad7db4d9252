using System.Text.Json.Serialization;

namespace Weft.Model.Resources;

/// <summary>`gateway.networking.k8s.io/v1` HTTPRoute, with the Gateway API's shape and defaults.</summary>
public sealed record HttpRouteResource(ObjectMeta Metadata, HttpRouteSpec Spec)
    : Resource(ApiVersions.GatewayApi, ResourceKinds.HttpRoute, Metadata);

/// <param name="Rules">Never empty: an omitted list is the Gateway API default, one rule matching PathPrefix "/".</param>
public sealed record HttpRouteSpec(EquatableList<ParentReference> ParentRefs, EquatableList<string> Hostnames, EquatableList<HttpRouteRule> Rules);

/// <param name="Matches">Never empty: omitted means one match on PathPrefix "/" (Gateway API default). Matches are ORed.</param>
public sealed record HttpRouteRule(
    string? Name,
    EquatableList<HttpRouteMatch> Matches,
    EquatableList<RouteFilter> Filters,
    EquatableList<BackendRef> BackendRefs,
    HttpRouteTimeouts? Timeouts,
    HttpRouteRetry? Retry);

/// <summary>All conditions of one match must hold (AND). Path always set (default PathPrefix "/").</summary>
public sealed record HttpRouteMatch(HttpPathMatch Path, EquatableList<HeaderMatch> Headers, EquatableList<HeaderMatch> QueryParams, string? Method);

public sealed record HttpPathMatch(PathMatchType Type, string Value)
{
    public static readonly HttpPathMatch Default = new(PathMatchType.PathPrefix, "/");
}

[JsonConverter(typeof(JsonStringEnumConverter<PathMatchType>))]
public enum PathMatchType { Exact, PathPrefix, RegularExpression }

/// <summary>HTTPRouteTimeouts. Zero means no timeout (Gateway API); null means the mesh default.</summary>
public sealed record HttpRouteTimeouts(TimeSpan? Request, TimeSpan? BackendRequest);

/// <summary>HTTPRouteRetry (GEP-1731). Codes are 400-599; null Attempts/Backoff leave the mesh default.</summary>
public sealed record HttpRouteRetry(EquatableList<int> Codes, int? Attempts, TimeSpan? Backoff);
