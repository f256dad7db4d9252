using System.Text.Json.Serialization;

namespace Weft.Model.Resources;

/// <summary>
/// `weft.dev/v1` AuthorizationPolicy: who may call a Service (or any workload of the mesh), decided by
/// the destination's sidecar from the caller's verified mTLS identity and the request. The rule shape
/// is Istio's (rules of from/to/when), the attachment Gateway API's policy <c>targetRef</c>.
/// docs/security.md, "Authorization", says how policies combine.
/// </summary>
public sealed record AuthorizationPolicyResource(ObjectMeta Metadata, AuthorizationPolicySpec Spec)
    : Resource(ApiVersions.Weft, ResourceKinds.AuthorizationPolicy, Metadata);

/// <param name="TargetRef">The workloads the policy applies to.</param>
/// <param name="Action">ALLOW by default, as Istio.</param>
/// <param name="Rules">
/// Any one matching makes the policy match. No rules: an ALLOW policy matches nothing (so it denies
/// everything), a DENY or AUDIT policy never applies. One empty rule (<c>rules: [{}]</c>) matches everything.
/// </param>
public sealed record AuthorizationPolicySpec(PolicyTargetRef TargetRef, AuthorizationAction Action, EquatableList<AuthorizationRule> Rules);

/// <summary>Gateway API policy attachment: kind Service with the name of a Service in the policy's namespace, or kind Mesh (no name) for every workload.</summary>
public sealed record PolicyTargetRef(string Kind, string? Name)
{
    public const string ServiceKind = "Service";
    public const string MeshKind = "Mesh";

    [JsonIgnore] public bool IsMesh => Kind == MeshKind;
}

[JsonConverter(typeof(JsonStringEnumConverter<AuthorizationAction>))]
public enum AuthorizationAction
{
    /// <summary>With any ALLOW policy on a workload, only what some ALLOW policy matches gets through.</summary>
    [JsonStringEnumMemberName("ALLOW")] Allow,
    /// <summary>What it matches is refused, whatever any ALLOW policy says.</summary>
    [JsonStringEnumMemberName("DENY")] Deny,
    /// <summary>What it matches is counted and logged; the decision is left to the others.</summary>
    [JsonStringEnumMemberName("AUDIT")] Audit,
}

/// <summary>
/// Each part that is present must hold: one of <paramref name="From"/>, one of <paramref name="To"/>,
/// and every one of <paramref name="When"/>. An absent part holds for every request.
/// </summary>
public sealed record AuthorizationRule(EquatableList<RuleFrom> From, EquatableList<RuleTo> To, EquatableList<RuleCondition> When);

public sealed record RuleFrom(RuleSource Source);

public sealed record RuleTo(RuleOperation Operation);

/// <summary>
/// Who calls. Every field that is set must hold; within a field any value may match. A principal is a
/// SPIFFE ID with or without its <c>spiffe://</c> scheme ("cluster.local/ns/default/sa/web"); principals
/// and namespaces match exactly, by prefix ("x*"), by suffix ("*x"), or "*" for any authenticated caller.
/// A plaintext (unauthenticated) request has no principal and no namespace.
/// </summary>
public sealed record RuleSource(
    EquatableList<string> Principals,
    EquatableList<string> NotPrincipals,
    EquatableList<string> Namespaces,
    EquatableList<string> NotNamespaces);

/// <summary>
/// What is asked. Paths match the one normalized path the app receives (path parameters such as
/// ";jsessionid=1" left out), exactly, by prefix ("/api/*"), by suffix ("*.js") or "*"; methods
/// exactly; ports are the app's port the request goes to. Methods, paths and headers exist only for
/// HTTP: see docs/security.md for what a rule naming them does to a TCP connection.
/// </summary>
public sealed record RuleOperation(
    EquatableList<string> Methods,
    EquatableList<string> NotMethods,
    EquatableList<string> Paths,
    EquatableList<string> NotPaths,
    EquatableList<int> Ports,
    EquatableList<int> NotPorts);

/// <summary>
/// One more condition, Istio's <c>when</c>: today the key is <c>request.headers[NAME]</c>. Values match
/// exactly, "x*", "*x" or "*" (present); how a repeated or listed header is read is in docs/security.md
/// ("Authorization"): where readings differ, the one that refuses wins.
/// </summary>
public sealed record RuleCondition(string Key, EquatableList<string> Values, EquatableList<string> NotValues)
{
    public const string HeaderKeyPrefix = "request.headers[";
}
