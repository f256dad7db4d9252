namespace Weft.Model.Resources;

/// <summary>The apiVersions Weft reads.</summary>
public static class ApiVersions
{
    public const string Weft = "weft.dev/v1";
    public const string GatewayApi = "gateway.networking.k8s.io/v1";
    /// <summary>The API group of Gateway API kinds (parentRefs to a Gateway carry it).</summary>
    public const string GatewayGroup = "gateway.networking.k8s.io";
}

/// <summary>Canonical kind names, as written in `kind:`.</summary>
public static class ResourceKinds
{
    public const string Service = "Service";
    public const string HttpRoute = "HTTPRoute";
    public const string GrpcRoute = "GRPCRoute";
    public const string MeshConfig = "MeshConfig";
    public const string AuthorizationPolicy = "AuthorizationPolicy";

    // Kinds of the contract whose support arrives later: recognised, so the error says "not yet" instead of "unknown".
    public const string Gateway = "Gateway";
    public const string DestinationPolicy = "DestinationPolicy";
    public const string RetryBudget = "RetryBudget";
    public const string FaultInjection = "FaultInjection";
    public const string RateLimitPolicy = "RateLimitPolicy";

    /// <summary>Kinds that can be applied today.</summary>
    public static readonly IReadOnlyList<string> Supported = [Service, HttpRoute, GrpcRoute, MeshConfig, AuthorizationPolicy];

    /// <summary>Kinds that are recognised but rejected with "reserved and not supported yet".</summary>
    public static readonly IReadOnlyList<string> Reserved =
        [Gateway, DestinationPolicy, RetryBudget, FaultInjection, RateLimitPolicy];

    public static bool IsSupported(string kind) => Supported.Contains(kind);
    public static bool IsReserved(string kind) => Reserved.Contains(kind);

    /// <summary>The apiVersion each kind is written with.</summary>
    public static string ApiVersionOf(string kind) =>
        kind is HttpRoute or GrpcRoute or Gateway ? ApiVersions.GatewayApi : ApiVersions.Weft;

    // kubectl-style names: lowercase singular, plural and short names. Reserved kinds are included so
    // `weft get gateways` answers with an empty list rather than "unknown kind".
    private static readonly Dictionary<string, string> Aliases = new(StringComparer.OrdinalIgnoreCase)
    {
        ["service"] = Service, ["services"] = Service, ["svc"] = Service,
        ["httproute"] = HttpRoute, ["httproutes"] = HttpRoute,
        ["grpcroute"] = GrpcRoute, ["grpcroutes"] = GrpcRoute,
        ["meshconfig"] = MeshConfig, ["meshconfigs"] = MeshConfig,
        ["authorizationpolicy"] = AuthorizationPolicy, ["authorizationpolicies"] = AuthorizationPolicy,
        ["gateway"] = Gateway, ["gateways"] = Gateway, ["gtw"] = Gateway,
        ["destinationpolicy"] = DestinationPolicy, ["destinationpolicies"] = DestinationPolicy,
        ["retrybudget"] = RetryBudget, ["retrybudgets"] = RetryBudget,
        ["faultinjection"] = FaultInjection, ["faultinjections"] = FaultInjection,
        ["ratelimitpolicy"] = RateLimitPolicy, ["ratelimitpolicies"] = RateLimitPolicy,
    };

    /// <summary>Maps a user's kind name (any case, singular, plural or short) to the canonical kind; null if unknown.</summary>
    public static string? Parse(string userKind)
    {
        var k = userKind.Trim();
        // "httproutes.gateway.networking.k8s.io" is how kubectl spells a fully qualified resource.
        var dot = k.IndexOf('.', StringComparison.Ordinal);
        if (dot > 0) k = k[..dot];
        return Aliases.TryGetValue(k, out var kind) ? kind : null;
    }
}
