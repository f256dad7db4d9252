using Weft.Model.Identity;
using Weft.Model.Resources;
using YamlDotNet.RepresentationModel;

namespace Weft.Model.Parsing.Binding;

/// <summary>
/// Binds and validates an AuthorizationPolicy spec: Istio's rules (from, to, when) under a Gateway API
/// targetRef. A value that no request could ever match is an error, not a rule that silently never applies.
/// </summary>
internal static class AuthorizationPolicyBinder
{
    private static readonly string[] TargetKinds = [PolicyTargetRef.ServiceKind, PolicyTargetRef.MeshKind];
    private static readonly string[] SourceFields = ["principals", "notPrincipals", "namespaces", "notNamespaces"];
    private static readonly string[] OperationFields = ["methods", "notMethods", "paths", "notPaths", "ports", "notPorts"];
    private static readonly string[] ConditionFields = ["key", "values", "notValues"];
    private static readonly string[] ConditionValueFields = ["values", "notValues"];

    public static AuthorizationPolicySpec Bind(ObjectReader spec)
    {
        var target = spec.Object("targetRef", ["group", "kind", "name"], TargetRef);
        if (!spec.Has("targetRef")) spec.Error("targetRef", "required field is missing");
        var action = spec.Enum("action", AuthorizationAction.Allow);
        var rules = spec.List("rules", Rule);
        // A null target has its error recorded, so the document yields no resource: the placeholder is never seen.
        return new AuthorizationPolicySpec(target ?? new PolicyTargetRef("", null), action, rules);
    }

    private static PolicyTargetRef TargetRef(ObjectReader o)
    {
        // Gateway API's targetRef names a group too; here the kind alone says what is meant.
        if (o.Has("group")) o.Error("group", "not supported: leave it out (kind Service or Mesh says what is targeted)");
        var kind = o.RequiredString("kind");
        var name = o.String("name");
        switch (kind)
        {
            case PolicyTargetRef.ServiceKind:
                if (!o.Has("name")) o.Error("name", "required when kind is Service");
                else if (name is not null && KubernetesNames.Dns1035Label(name) is { } e) o.Error("name", $"invalid Service name \"{name}\": {e}");
                break;
            case PolicyTargetRef.MeshKind:
                if (o.Has("name")) o.Error("name", "must not be set when kind is Mesh (a Mesh policy applies to every workload)");
                name = null;
                break;
            case "":
                break; // reported by RequiredString
            default:
                o.Error("kind", $"unsupported kind \"{kind}\"{FieldSuggestion.Hint(kind, TargetKinds)}; expected Service or Mesh");
                break;
        }
        return new PolicyTargetRef(kind, name);
    }

    private static AuthorizationRule? Rule(NodeReader item)
    {
        var o = item.AsObject("from", "to", "when");
        if (o is null) return null;
        var from = o.List("from", f => RequiredPart(f, "source", SourceFields, Source,
            "names nothing: set principals, notPrincipals, namespaces or notNamespaces, or leave this from item out to match any caller") is { } s ? new RuleFrom(s) : null);
        var to = o.List("to", t => RequiredPart(t, "operation", OperationFields, Operation,
            "names nothing: set methods, notMethods, paths, notPaths, ports or notPorts, or leave this to item out to match any request") is { } op ? new RuleTo(op) : null);
        var when = o.List("when", Condition);
        return new AuthorizationRule(from, to, when);
    }

    /// <summary>A from or to item: an object whose one field must be there and name something.</summary>
    private static T? RequiredPart<T>(NodeReader item, string field, string[] fields, Func<ObjectReader, T> bind, string namesNothing) where T : class
    {
        var o = item.AsObject(field);
        if (o is null) return null;
        if (o.Field(field) is not { } node) { o.Error(field, "required field is missing"); return null; }
        var part = node.AsObject(fields);
        if (part is null) return null;
        if (NamesNothing(node, part, fields, fields)) node.Error(namesNothing);
        return bind(part);
    }

    private static RuleSource Source(ObjectReader s) => new(
        Values(s, "principals", Principal), Values(s, "notPrincipals", Principal),
        Values(s, "namespaces", Namespace), Values(s, "notNamespaces", Namespace));

    private static RuleOperation Operation(ObjectReader o) => new(
        Values(o, "methods", Method), Values(o, "notMethods", Method),
        Values(o, "paths", AuthorizationPath.Error), Values(o, "notPaths", AuthorizationPath.Error),
        o.IntList("ports", 1, 65535), o.IntList("notPorts", 1, 65535));

    private static RuleCondition? Condition(NodeReader item)
    {
        var o = item.AsObject(ConditionFields);
        if (o is null) return null;
        var key = o.RequiredString("key");
        if (key.Length > 0) key = HeaderKey(o, key);
        if (NamesNothing(item, o, ConditionValueFields, ConditionFields)) o.Error("at least one of values or notValues is required");
        return new RuleCondition(key, Values(o, "values", HeaderValue), Values(o, "notValues", HeaderValue));
    }

    /// <summary>The key as written, its header name lower-cased (header names are case-insensitive).</summary>
    private static string HeaderKey(ObjectReader o, string key)
    {
        if (!key.StartsWith(RuleCondition.HeaderKeyPrefix, StringComparison.Ordinal) || !key.EndsWith(']'))
        {
            o.Error("key", $"unsupported key \"{key}\": the supported key is request.headers[NAME]; use from and to for principals, namespaces, methods, paths and ports");
            return key;
        }
        var name = key[RuleCondition.HeaderKeyPrefix.Length..^1];
        if (!RouteBinder.IsHeaderName(name))
        {
            o.Error("key", $"invalid header name \"{name}\" in key \"{key}\"");
            return key;
        }
        return $"{RuleCondition.HeaderKeyPrefix}{name.ToLowerInvariant()}]";
    }

    /// <summary>
    /// None of <paramref name="fields"/> set, or only as empty lists: such a part would match anything,
    /// which leaving it out says (and its canonical JSON, which omits empty lists, would not read back).
    /// A field of another name than <paramref name="allowed"/> is already reported: saying more would repeat it.
    /// </summary>
    private static bool NamesNothing(NodeReader node, ObjectReader o, string[] fields, string[] allowed)
    {
        if (node.Node is YamlMappingNode map)
            foreach (var key in map.Children.Keys)
                if (key is not YamlScalarNode { Value: { } name } || Array.IndexOf(allowed, name) < 0) return false;
        foreach (var f in fields)
            if (o.Field(f) is { } value && value.Node is not YamlSequenceNode { Children.Count: 0 }) return false;
        return true;
    }

    /// <summary>A list of strings, each non-empty and passing <paramref name="rule"/> (which returns the whole message).</summary>
    private static EquatableList<string> Values(ObjectReader o, string field, Func<string, string?> rule) =>
        o.List(field, item =>
        {
            var value = item.AsString();
            if (value is null) return null;
            if (value.Length == 0) { item.Error("must not be empty"); return null; }
            if (rule(value) is { } e) { item.Error(e); return null; }
            return value;
        });

    /// <summary>Istio's string match: exact, prefix ("x*"), suffix ("*x"), or "*" alone (any value).</summary>
    public static string? StringMatchError(string value)
    {
        if (value == "*") return null;
        var stars = value.Count(c => c == '*');
        return stars == 0 || (stars == 1 && (value[0] == '*' || value[^1] == '*')) ? null
            : "'*' may only be the whole value, or lead or end it";
    }

    // The caller's SPIFFE ID, with or without its scheme. An exact one must be an ID the CA could issue,
    // or it would never match.
    private static string? Principal(string value)
    {
        var id = value.StartsWith(SpiffeId.Scheme, StringComparison.Ordinal) ? value[SpiffeId.Scheme.Length..] : value;
        if (id.Length == 0) return $"invalid principal \"{value}\": names no workload";
        if (StringMatchError(id) is { } w) return $"invalid principal \"{value}\": {w}";
        if (id.Contains('*', StringComparison.Ordinal))
            return id.Any(char.IsWhiteSpace) ? $"invalid principal \"{value}\": must not contain whitespace" : null;
        if (SpiffeId.Parse(SpiffeId.Scheme + id, out var error) is not { } spiffe)
            return $"invalid principal \"{value}\": the SPIFFE ID \"{SpiffeId.Scheme}{id}\" {error}";
        if (SpiffeId.NamespaceError(spiffe.Namespace) is { } ne)
            return $"invalid principal \"{value}\": namespace \"{spiffe.Namespace}\" {ne}";
        if (SpiffeId.ServiceAccountError(spiffe.ServiceAccount) is { } se)
            return $"invalid principal \"{value}\": service account \"{spiffe.ServiceAccount}\" {se}";
        return null;
    }

    private static string? Namespace(string value)
    {
        if (StringMatchError(value) is { } w) return $"invalid namespace \"{value}\": {w}";
        if (value == "*") return null;
        if (value.Contains('*', StringComparison.Ordinal))
            return value.All(c => c is >= 'a' and <= 'z' or >= '0' and <= '9' or '-' or '*') ? null
                : $"invalid namespace \"{value}\": a namespace holds only lowercase letters, digits and '-'";
        return KubernetesNames.Dns1123Label(value) is { } e ? $"invalid namespace \"{value}\": {e}" : null;
    }

    private static string? HeaderValue(string value) =>
        StringMatchError(value) is { } e ? $"invalid value \"{value}\": {e}" : null;

    private static string? Method(string value) =>
        value.Contains('*', StringComparison.Ordinal) ? $"invalid method \"{value}\": methods match exactly ('*' is not a wildcard here)"
        : RouteBinder.IsHeaderName(value) ? null
        : $"invalid method \"{value}\": must be an HTTP token (letters, digits and !#$%&'+-.^_`|~)";
}
