using System.Text.Json.Serialization;

namespace Weft.Model.Resources;

// Types shared by HTTPRoute and GRPCRoute, named and shaped as in the Gateway API.

/// <summary>
/// Where a route attaches. Defaults as in the Gateway API: group gateway.networking.k8s.io, kind Gateway,
/// namespace the route's own. A Service parent (<c>group: ""</c>, <c>kind: Service</c>) is mesh routing (GAMMA).
/// </summary>
public sealed record ParentReference(string Group, string Kind, string Namespace, string Name, string? SectionName, int? Port)
{
    [JsonIgnore] public bool IsService => Group.Length == 0 && Kind == ResourceKinds.Service;
    [JsonIgnore] public bool IsGateway => Group == ApiVersions.GatewayGroup && Kind == ResourceKinds.Gateway;
}

/// <summary>
/// A weighted backend. Group "" and kind Service (the defaults) mean Weft's Service. Port may be
/// omitted (unlike in Kubernetes) when the Service has a single port; the control plane resolves it.
/// Namespace defaults to the route's.
/// </summary>
public sealed record BackendRef(string Group, string Kind, string Name, string Namespace, int? Port, int Weight, EquatableList<RouteFilter> Filters)
{
    public const int DefaultWeight = 1;
    public const int MaxWeight = 1_000_000;
}

/// <summary>A backend without weight: what RequestMirror names.</summary>
public sealed record BackendObjectReference(string Group, string Kind, string Name, string Namespace, int? Port);

/// <summary>Header and query-param match (HTTPHeaderMatch, HTTPQueryParamMatch, GRPCHeaderMatch).</summary>
public sealed record HeaderMatch(StringMatchType Type, string Name, string Value);

[JsonConverter(typeof(JsonStringEnumConverter<StringMatchType>))]
public enum StringMatchType { Exact, RegularExpression }

/// <summary>
/// One filter: <see cref="Type"/> says which of the other members is set (exactly that one), as in
/// the Gateway API's HTTPRouteFilter and GRPCRouteFilter.
/// </summary>
public sealed record RouteFilter(
    RouteFilterType Type,
    HeaderModifier? RequestHeaderModifier = null,
    HeaderModifier? ResponseHeaderModifier = null,
    RequestMirror? RequestMirror = null,
    RequestRedirect? RequestRedirect = null,
    UrlRewrite? UrlRewrite = null);

[JsonConverter(typeof(JsonStringEnumConverter<RouteFilterType>))]
public enum RouteFilterType
{
    RequestHeaderModifier,
    ResponseHeaderModifier,
    RequestMirror,
    RequestRedirect,
    [JsonStringEnumMemberName("URLRewrite")] UrlRewrite,
}

/// <summary>HTTPHeaderFilter: set replaces, add appends, remove deletes; header names compare case-insensitively.</summary>
public sealed record HeaderModifier(EquatableList<HttpHeader> Set, EquatableList<HttpHeader> Add, EquatableList<string> Remove);

public sealed record HttpHeader(string Name, string Value);

/// <summary>
/// HTTPRequestMirrorFilter. At most one of Percent and Fraction; with neither, every request is mirrored.
/// </summary>
public sealed record RequestMirror(BackendObjectReference BackendRef, int? Percent, MirrorFraction? Fraction);

/// <summary>Numerator/denominator of requests mirrored (denominator default 100).</summary>
public sealed record MirrorFraction(int Numerator, int Denominator);

/// <summary>HTTPRequestRedirectFilter. Null members keep the request's own value.</summary>
public sealed record RequestRedirect(string? Scheme, string? Hostname, HttpPathModifier? Path, int? Port, int StatusCode)
{
    public const int DefaultStatusCode = 302;
}

/// <summary>HTTPURLRewriteFilter.</summary>
public sealed record UrlRewrite(string? Hostname, HttpPathModifier? Path);

/// <summary>HTTPPathModifier: the member named by <see cref="Type"/> is set.</summary>
public sealed record HttpPathModifier(PathModifierType Type, string? ReplaceFullPath, string? ReplacePrefixMatch);

[JsonConverter(typeof(JsonStringEnumConverter<PathModifierType>))]
public enum PathModifierType { ReplaceFullPath, ReplacePrefixMatch }
