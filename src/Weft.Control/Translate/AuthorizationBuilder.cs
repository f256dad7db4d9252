using Weft.Model.Identity;
using Weft.Model.Resources;
using Pb = Weft.Protocol.Discovery;

namespace Weft.Control.Translate;

/// <summary>
/// AuthorizationPolicies to the discovery resource's form: the policies that apply to one workload
/// (its Services' and the mesh's), with every "*" convention spelled out as a match kind, so the proxy
/// parses nothing (docs/security.md, "Authorization").
/// </summary>
internal static class AuthorizationBuilder
{
    /// <summary>The policies of a workload with these labels in <paramref name="ns"/>, in (namespace, name) order.</summary>
    public static IEnumerable<Pb.AuthorizationPolicy> For(MeshIndex mesh, string ns, EquatableMap labels)
    {
        foreach (var policy in mesh.AuthorizationPolicies)
        {
            var target = policy.Spec.TargetRef;
            if (target.IsMesh || (policy.Metadata.Namespace == ns && target.Name is { } service && Selects(mesh.SelectorOf(ns, service), labels)))
                yield return Build(policy);
        }
    }

    /// <summary>An empty selector selects nothing here, as a Kubernetes Service's does: its policies reach no workload.</summary>
    private static bool Selects(EquatableMap selector, EquatableMap labels) => selector.Count != 0 && labels.Contains(selector);

    private static Pb.AuthorizationPolicy Build(AuthorizationPolicyResource policy)
    {
        var result = new Pb.AuthorizationPolicy
        {
            Name = policy.Metadata.Namespace + "/" + policy.Metadata.Name,
            Action = policy.Spec.Action switch
            {
                AuthorizationAction.Deny => Pb.AuthorizationAction.AuthzDeny,
                AuthorizationAction.Audit => Pb.AuthorizationAction.AuthzAudit,
                _ => Pb.AuthorizationAction.AuthzAllow,
            },
        };
        foreach (var rule in policy.Spec.Rules)
            result.Rules.Add(Build(rule));
        return result;
    }

    private static Pb.AuthorizationRule Build(AuthorizationRule rule)
    {
        var result = new Pb.AuthorizationRule();
        foreach (var from in rule.From)
        {
            var s = from.Source;
            var source = new Pb.AuthorizationSource();
            source.Principals.AddRange(s.Principals.Select(Principal));
            source.NotPrincipals.AddRange(s.NotPrincipals.Select(Principal));
            source.Namespaces.AddRange(s.Namespaces.Select(Match));
            source.NotNamespaces.AddRange(s.NotNamespaces.Select(Match));
            result.Sources.Add(source);
        }
        foreach (var to in rule.To)
        {
            var o = to.Operation;
            var operation = new Pb.AuthorizationOperation();
            operation.Methods.AddRange(o.Methods);
            operation.NotMethods.AddRange(o.NotMethods);
            operation.Paths.AddRange(o.Paths.Select(Match));
            operation.NotPaths.AddRange(o.NotPaths.Select(Match));
            operation.Ports.AddRange(o.Ports.Select(p => (uint)p));
            operation.NotPorts.AddRange(o.NotPorts.Select(p => (uint)p));
            result.Operations.Add(operation);
        }
        foreach (var when in rule.When)
        {
            var header = new Pb.AuthorizationHeader { Name = HeaderName(when.Key) };
            header.Values.AddRange(when.Values.Select(Match));
            header.NotValues.AddRange(when.NotValues.Select(Match));
            result.Headers.Add(header);
        }
        return result;
    }

    /// <summary>Principals are matched without the scheme, as Istio writes them.</summary>
    private static Pb.StringMatch Principal(string value) =>
        Match(value.StartsWith(SpiffeId.Scheme, StringComparison.Ordinal) ? value[SpiffeId.Scheme.Length..] : value);

    /// <summary>"*" any non-empty value, "x*" a prefix, "*x" a suffix, else exact (the binder allows no other '*').</summary>
    private static Pb.StringMatch Match(string value)
    {
        if (value == "*")
            return new Pb.StringMatch { Kind = Pb.StringMatch.Types.Kind.Present };
        if (value.EndsWith('*'))
            return new Pb.StringMatch { Kind = Pb.StringMatch.Types.Kind.Prefix, Value = value[..^1] };
        if (value.StartsWith('*'))
            return new Pb.StringMatch { Kind = Pb.StringMatch.Types.Kind.Suffix, Value = value[1..] };
        return new Pb.StringMatch { Kind = Pb.StringMatch.Types.Kind.Exact, Value = value };
    }

    /// <summary>request.headers[NAME] to NAME, lower case (the binder checked the form).</summary>
    private static string HeaderName(string key) =>
        key[RuleCondition.HeaderKeyPrefix.Length..^1].ToLowerInvariant();
}
