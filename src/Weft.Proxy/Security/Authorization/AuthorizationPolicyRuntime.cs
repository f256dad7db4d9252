using System.Globalization;
using Weft.Protocol.Discovery;

namespace Weft.Proxy.Security.Authorization;

/// <summary>
/// One AuthorizationPolicy as a listener runs it. Matching follows Istio: the policy matches when one
/// of its rules does; a rule when one of its sources, one of its operations and all of its header
/// conditions hold (an absent part holds). A TCP connection has no method, path or header: a
/// condition on them never holds in an ALLOW or AUDIT rule, and always holds in a DENY rule, so a
/// DENY written for HTTP refuses more over TCP, never less (docs/security.md, "Authorization").
/// </summary>
internal sealed class AuthorizationPolicyRuntime
{
    private readonly RuleRuntime[] _rules;

    private AuthorizationPolicyRuntime(string name, AuthorizationAction action, RuleRuntime[] rules)
    {
        Name = name;
        Action = action;
        _rules = rules;
        DenialMessage = "access denied by AuthorizationPolicy " + name + "\n";
    }

    /// <summary>"namespace/name".</summary>
    public string Name { get; }

    public AuthorizationAction Action { get; }

    /// <summary>The body of the 403 this policy's DENY answers with.</summary>
    public string DenialMessage { get; }

    /// <summary>Whether any rule matches a path (so a decision needs the path without its parameters).</summary>
    public bool MatchesPaths => _rules.Any(r => r.MatchesPaths);

    public bool Matches(in AuthorizationRequest request, string? matchPath)
    {
        var failClosed = Action == AuthorizationAction.AuthzDeny;
        foreach (var rule in _rules)
        {
            if (rule.Matches(request, matchPath, failClosed))
                return true;
        }
        return false;
    }

    public static AuthorizationPolicyRuntime? Build(AuthorizationPolicy spec, string path, List<string> errors)
    {
        var before = errors.Count;
        if (string.IsNullOrEmpty(spec.Name))
            errors.Add(path + ".name: empty");
        if (!Enum.IsDefined(spec.Action))
            errors.Add(path + ".action: unknown action " + ((int)spec.Action).ToString(CultureInfo.InvariantCulture));
        var rules = new RuleRuntime[spec.Rules.Count];
        for (var i = 0; i < rules.Length; i++)
            rules[i] = RuleRuntime.Build(spec.Rules[i], path + ".rules[" + i.ToString(CultureInfo.InvariantCulture) + "]", errors)!;
        return errors.Count == before ? new AuthorizationPolicyRuntime(spec.Name, spec.Action, rules) : null;
    }

    private sealed class RuleRuntime
    {
        private SourceRuntime[] _sources = [];
        private OperationRuntime[] _operations = [];
        private HeaderConditionRuntime[] _headers = [];

        public bool MatchesPaths => _operations.Any(o => o.MatchesPaths);

        public bool Matches(in AuthorizationRequest request, string? matchPath, bool failClosed)
        {
            if (_sources.Length != 0 && !AnySource(request.Peer))
                return false;
            if (_operations.Length != 0 && !AnyOperation(request, matchPath, failClosed))
                return false;
            foreach (var header in _headers)
            {
                if (request.Headers is { } headers ? !header.Holds(headers, failClosed) : !failClosed)
                    return false;
            }
            return true;
        }

        private bool AnySource(Mtls.PeerIdentity? peer)
        {
            foreach (var source in _sources)
            {
                if (source.Holds(peer))
                    return true;
            }
            return false;
        }

        private bool AnyOperation(in AuthorizationRequest request, string? matchPath, bool failClosed)
        {
            foreach (var operation in _operations)
            {
                if (operation.Holds(request, matchPath, failClosed))
                    return true;
            }
            return false;
        }

        public static RuleRuntime? Build(AuthorizationRule spec, string path, List<string> errors)
        {
            var before = errors.Count;
            var rule = new RuleRuntime
            {
                _sources = spec.Sources.Select((s, i) => SourceRuntime.Build(s, path + ".sources[" + i.ToString(CultureInfo.InvariantCulture) + "]", errors)!).ToArray(),
                _operations = spec.Operations.Select((o, i) => OperationRuntime.Build(o, path + ".operations[" + i.ToString(CultureInfo.InvariantCulture) + "]", errors)!).ToArray(),
                _headers = spec.Headers.Select((h, i) => HeaderConditionRuntime.Build(h, path + ".headers[" + i.ToString(CultureInfo.InvariantCulture) + "]", errors)!).ToArray(),
            };
            return errors.Count == before ? rule : null;
        }
    }

    private sealed class SourceRuntime
    {
        private StringMatcher[] _principals = [], _notPrincipals = [], _namespaces = [], _notNamespaces = [];

        public bool Holds(Mtls.PeerIdentity? peer)
        {
            var principal = peer?.Principal;
            var ns = peer?.Id.Namespace;
            return (_principals.Length == 0 || StringMatcher.Any(_principals, principal))
                && !StringMatcher.Any(_notPrincipals, principal)
                && (_namespaces.Length == 0 || StringMatcher.Any(_namespaces, ns))
                && !StringMatcher.Any(_notNamespaces, ns);
        }

        public static SourceRuntime? Build(AuthorizationSource spec, string path, List<string> errors)
        {
            var source = new SourceRuntime
            {
                _principals = StringMatcher.Build(spec.Principals, path + ".principals", errors) ?? [],
                _notPrincipals = StringMatcher.Build(spec.NotPrincipals, path + ".not_principals", errors) ?? [],
                _namespaces = StringMatcher.Build(spec.Namespaces, path + ".namespaces", errors) ?? [],
                _notNamespaces = StringMatcher.Build(spec.NotNamespaces, path + ".not_namespaces", errors) ?? [],
            };
            if (source._principals.Length + source._notPrincipals.Length + source._namespaces.Length + source._notNamespaces.Length == 0)
                errors.Add(path + ": names nothing");
            return source;
        }
    }

    private sealed class OperationRuntime
    {
        private string[] _methods = [], _notMethods = [];
        private StringMatcher[] _paths = [], _notPaths = [];
        private int[] _ports = [], _notPorts = [];

        public bool MatchesPaths => _paths.Length + _notPaths.Length != 0;

        private bool HttpOnly => _methods.Length + _notMethods.Length + _paths.Length + _notPaths.Length != 0;

        public bool Holds(in AuthorizationRequest request, string? matchPath, bool failClosed)
        {
            if (_ports.Length != 0 && Array.IndexOf(_ports, request.Port) < 0)
                return false;
            if (Array.IndexOf(_notPorts, request.Port) >= 0)
                return false;
            if (!request.IsHttp)
                return !HttpOnly || failClosed;
            return (_methods.Length == 0 || Array.IndexOf(_methods, request.Method) >= 0)
                && Array.IndexOf(_notMethods, request.Method) < 0
                && (_paths.Length == 0 || StringMatcher.Any(_paths, matchPath))
                && !StringMatcher.Any(_notPaths, matchPath);
        }

        public static OperationRuntime? Build(AuthorizationOperation spec, string path, List<string> errors)
        {
            var operation = new OperationRuntime
            {
                _methods = [.. spec.Methods],
                _notMethods = [.. spec.NotMethods],
                _paths = StringMatcher.Build(spec.Paths, path + ".paths", errors) ?? [],
                _notPaths = StringMatcher.Build(spec.NotPaths, path + ".not_paths", errors) ?? [],
                _ports = [.. spec.Ports.Select(p => (int)p)],
                _notPorts = [.. spec.NotPorts.Select(p => (int)p)],
            };
            if (spec.Methods.Concat(spec.NotMethods).Any(string.IsNullOrEmpty))
                errors.Add(path + ".methods: empty method");
            if (spec.Ports.Concat(spec.NotPorts).Any(p => p is 0 or > 65535))
                errors.Add(path + ".ports: a port outside 1-65535");
            if (operation._methods.Length + operation._notMethods.Length + operation._paths.Length + operation._notPaths.Length
                + operation._ports.Length + operation._notPorts.Length == 0)
                errors.Add(path + ": names nothing");
            return operation;
        }
    }

    /// <summary>
    /// A header condition. Its value is the header's field lines joined with ", " (as Envoy matches it);
    /// its elements are the comma-separated parts of that value. Where the two readings differ, the one
    /// that refuses wins: in a DENY, values hold when the whole or any element matches ("reader, admin"
    /// holds admin) and not-values hold unless the whole matches; in an ALLOW or AUDIT, values hold only
    /// when the whole matches and not-values only when neither the whole nor any element does. "*" is
    /// any value, the empty one included: the header is there.
    /// </summary>
    private sealed class HeaderConditionRuntime
    {
        private string _name = "";
        private StringMatcher[] _values = [], _notValues = [];

        public bool Holds(Pipeline.HeaderView headers, bool failClosed)
        {
            var joined = headers.Get(_name);
            if (_values.Length != 0 && !(failClosed ? WholeOrAnyElement(_values, joined) : Whole(_values, joined)))
                return false;
            return _notValues.Length == 0 || !(failClosed ? Whole(_notValues, joined) : WholeOrAnyElement(_notValues, joined));
        }

        private static bool Whole(StringMatcher[] matchers, string? joined)
        {
            if (joined is null)
                return false;
            foreach (var m in matchers)
            {
                if (m.IsPresence || m.Matches(joined))
                    return true;
            }
            return false;
        }

        private static bool WholeOrAnyElement(StringMatcher[] matchers, string? joined)
        {
            if (Whole(matchers, joined))
                return true;
            if (joined is null || !joined.Contains(',', StringComparison.Ordinal))
                return false;
            foreach (var element in joined.Split(',', StringSplitOptions.TrimEntries))
            {
                if (StringMatcher.Any(matchers, element))
                    return true;
            }
            return false;
        }

        public static HeaderConditionRuntime? Build(AuthorizationHeader spec, string path, List<string> errors)
        {
            if (string.IsNullOrEmpty(spec.Name))
                errors.Add(path + ".name: empty");
            var condition = new HeaderConditionRuntime
            {
                _name = spec.Name,
                _values = StringMatcher.Build(spec.Values, path + ".values", errors) ?? [],
                _notValues = StringMatcher.Build(spec.NotValues, path + ".not_values", errors) ?? [],
            };
            if (condition._values.Length + condition._notValues.Length == 0)
                errors.Add(path + ": neither values nor not_values");
            return condition;
        }
    }
}
