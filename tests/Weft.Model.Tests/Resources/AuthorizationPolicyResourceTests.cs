using Weft.Model.Parsing;
using Weft.Model.Resources;
using Weft.Model.Tests.Parsing;

namespace Weft.Model.Tests.Resources;

public class AuthorizationPolicyResourceTests
{
    private static readonly EquatableList<string> None = EquatableList<string>.Empty;
    private static readonly EquatableList<int> NoPorts = EquatableList<int>.Empty;

    private const string Head = "apiVersion: weft.dev/v1\nkind: AuthorizationPolicy\nmetadata: { name: p }\nspec:\n";

    /// <summary>A policy on every workload whose first rule, on line 7, is <paramref name="rule"/>.</summary>
    private static string WithRule(string rule) => Head + "  targetRef: { kind: Mesh }\n  rules:\n  - " + rule + "\n";

    [Fact]
    public void Parses_a_full_policy()
    {
        var policy = Yaml.Single<AuthorizationPolicyResource>("""
            apiVersion: weft.dev/v1
            kind: AuthorizationPolicy
            metadata: { name: backend-admin, namespace: shop }
            spec:
              targetRef: { kind: Service, name: backend }
              action: DENY
              rules:
              - from:
                - source:
                    principals: ["cluster.local/ns/shop/sa/web", "spiffe://cluster.local/ns/ops/*"]
                    notPrincipals: ["*/sa/intruder"]
                    namespaces: [shop, "prod-*"]
                    notNamespaces: ["*-test"]
                - source: { principals: ["*"] }
                to:
                - operation:
                    methods: [GET, POST]
                    notMethods: [DELETE]
                    paths: ["/admin", "/admin/*", "*.php", "*"]
                    notPaths: ["/admin/health"]
                    ports: [8080]
                    notPorts: [9090]
                when:
                - key: request.headers[X-Role]
                  values: ["admin", "ops-*"]
                  notValues: ["*-readonly"]
              - {}
            """);
        var expected = new AuthorizationPolicyResource(
            new ObjectMeta("backend-admin", "shop", EquatableMap.Empty),
            new AuthorizationPolicySpec(
                new PolicyTargetRef("Service", "backend"),
                AuthorizationAction.Deny,
                Yaml.List(
                    new AuthorizationRule(
                        Yaml.List(
                            new RuleFrom(new RuleSource(
                                Yaml.List("cluster.local/ns/shop/sa/web", "spiffe://cluster.local/ns/ops/*"),
                                Yaml.List("*/sa/intruder"),
                                Yaml.List("shop", "prod-*"),
                                Yaml.List("*-test"))),
                            new RuleFrom(new RuleSource(Yaml.List("*"), None, None, None))),
                        Yaml.List(new RuleTo(new RuleOperation(
                            Yaml.List("GET", "POST"), Yaml.List("DELETE"),
                            Yaml.List("/admin", "/admin/*", "*.php", "*"), Yaml.List("/admin/health"),
                            Yaml.List(8080), Yaml.List(9090)))),
                        Yaml.List(new RuleCondition("request.headers[x-role]", Yaml.List("admin", "ops-*"), Yaml.List("*-readonly")))),
                    new AuthorizationRule(EquatableList<RuleFrom>.Empty, EquatableList<RuleTo>.Empty, EquatableList<RuleCondition>.Empty))));
        Assert.Equal(expected, policy);
        Assert.False(policy.Spec.TargetRef.IsMesh);
    }

    [Fact]
    public void Action_defaults_to_allow_and_absent_lists_stay_empty()
    {
        var policy = Yaml.Single<AuthorizationPolicyResource>(Head + "  targetRef: { kind: Mesh }\n");
        Assert.Equal(new PolicyTargetRef("Mesh", null), policy.Spec.TargetRef);
        Assert.True(policy.Spec.TargetRef.IsMesh);
        Assert.Equal(AuthorizationAction.Allow, policy.Spec.Action);
        Assert.Same(EquatableList<AuthorizationRule>.Empty, policy.Spec.Rules);

        var rule = Assert.Single(Yaml.Single<AuthorizationPolicyResource>(WithRule("{}")).Spec.Rules);
        Assert.Same(EquatableList<RuleFrom>.Empty, rule.From);
        Assert.Same(EquatableList<RuleTo>.Empty, rule.To);
        Assert.Same(EquatableList<RuleCondition>.Empty, rule.When);

        var parts = Assert.Single(Yaml.Single<AuthorizationPolicyResource>(WithRule(
            "{ from: [{ source: { namespaces: [a] } }], to: [{ operation: { ports: [80] } }], when: [{ key: \"request.headers[a]\", values: [b] }] }")).Spec.Rules);
        var source = parts.From[0].Source;
        Assert.Same(None, source.Principals);
        Assert.Same(None, source.NotPrincipals);
        Assert.Same(None, source.NotNamespaces);
        var operation = parts.To[0].Operation;
        Assert.Same(None, operation.Methods);
        Assert.Same(None, operation.Paths);
        Assert.Same(None, operation.NotPaths);
        Assert.Same(NoPorts, operation.NotPorts);
        Assert.Same(None, parts.When[0].NotValues);
    }

    [Theory]
    [InlineData("ALLOW", AuthorizationAction.Allow)]
    [InlineData("DENY", AuthorizationAction.Deny)]
    [InlineData("AUDIT", AuthorizationAction.Audit)]
    public void Reads_each_action(string text, AuthorizationAction action) =>
        Assert.Equal(action, Yaml.Single<AuthorizationPolicyResource>(Head + $"  targetRef: {{ kind: Mesh }}\n  action: {text}\n").Spec.Action);

    [Fact]
    public void Principals_keep_their_spelling_and_header_names_are_lower_cased()
    {
        var rule = Assert.Single(Yaml.Single<AuthorizationPolicyResource>(WithRule("""
            { from: [{ source: { principals: ["spiffe://td/ns/a/sa/b", "td/ns/a/sa/b", "spiffe://*"] } }], when: [{ key: "request.headers[X-Forwarded-For]", notValues: ["10.*"] }] }
            """)).Spec.Rules);
        Assert.Equal(Yaml.List("spiffe://td/ns/a/sa/b", "td/ns/a/sa/b", "spiffe://*"), rule.From[0].Source.Principals);
        Assert.Equal(new RuleCondition("request.headers[x-forwarded-for]", None, Yaml.List("10.*")), rule.When[0]);
    }

    [Fact]
    public void Duplicates_in_a_list_are_allowed()
    {
        var rule = Assert.Single(Yaml.Single<AuthorizationPolicyResource>(WithRule(
            "{ to: [{ operation: { methods: [GET, GET], ports: [80, 80] } }, { operation: { methods: [GET] } }] }")).Spec.Rules);
        Assert.Equal(Yaml.List("GET", "GET"), rule.To[0].Operation.Methods);
        Assert.Equal(2, rule.To.Count);
    }

    [Theory]
    [InlineData("  action: DENY", "spec.targetRef", 5, "required field is missing")]
    [InlineData("  targetRef: { kind: Gateway, name: web }", "spec.targetRef.kind", 5, "unsupported kind \"Gateway\"; expected Service or Mesh")]
    [InlineData("  targetRef: { kind: service, name: web }", "spec.targetRef.kind", 5, "unsupported kind \"service\"; did you mean \"Service\"?; expected Service or Mesh")]
    [InlineData("  targetRef: { name: web }", "spec.targetRef.kind", 5, "required field is missing")]
    [InlineData("  targetRef: { kind: Service }", "spec.targetRef.name", 5, "required when kind is Service")]
    [InlineData("  targetRef: { kind: Service, name: 1web }", "spec.targetRef.name", 5, "invalid Service name \"1web\": must be a lowercase RFC 1035 label: lowercase letters, digits and '-', starting with a letter and ending with a letter or digit")]
    [InlineData("  targetRef: { kind: Mesh, name: all }", "spec.targetRef.name", 5, "must not be set when kind is Mesh (a Mesh policy applies to every workload)")]
    [InlineData("  targetRef: { group: \"\", kind: Service, name: web }", "spec.targetRef.group", 5, "not supported: leave it out (kind Service or Mesh says what is targeted)")]
    [InlineData("  targetRef: { kind: Service, name: web, namespace: shop }", "spec.targetRef.namespace", 5, "unknown field")]
    [InlineData("  targetRef: web", "spec.targetRef", 5, "expected object, got string")]
    [InlineData("  targetRef: { kind: Mesh }\n  action: allow", "spec.action", 6, "unsupported value \"allow\"; did you mean \"ALLOW\"?; expected one of ALLOW, DENY, AUDIT")]
    [InlineData("  targetRef: { kind: Mesh }\n  rules: { from: [] }", "spec.rules", 6, "expected list, got object")]
    [InlineData("  targetRef: { kind: Mesh }\n  rulez: []", "spec.rulez", 6, "unknown field; did you mean \"rules\"?")]
    public void Spec_errors(string spec, string path, int line, string message)
    {
        var e = Yaml.Error(Head + spec + "\n");
        Assert.Equal((path, line, message), (e.Path, e.Line, e.Message));
    }

    [Fact]
    public void A_missing_spec_is_reported()
    {
        var errors = Yaml.Errors(Head.Replace("spec:\n", "", StringComparison.Ordinal));
        Assert.Equal("required field is missing", errors.At("spec").Message);
    }

    [Theory]
    // Rule structure.
    [InlineData("[]", "spec.rules[0]", "expected object, got list")]
    [InlineData("{ frm: [] }", "spec.rules[0].frm", "unknown field; did you mean \"from\"?")]
    [InlineData("{ from: [{}] }", "spec.rules[0].from[0].source", "required field is missing")]
    [InlineData("{ from: [{ source: { principal: [\"*\"] } }] }", "spec.rules[0].from[0].source.principal", "unknown field; did you mean \"principals\"?")]
    [InlineData("{ from: [{ source: {} }] }", "spec.rules[0].from[0].source",
        "names nothing: set principals, notPrincipals, namespaces or notNamespaces, or leave this from item out to match any caller")]
    [InlineData("{ from: [{ source: { principals: [], notNamespaces: ~ } }] }", "spec.rules[0].from[0].source",
        "names nothing: set principals, notPrincipals, namespaces or notNamespaces, or leave this from item out to match any caller")]
    [InlineData("{ to: [{}] }", "spec.rules[0].to[0].operation", "required field is missing")]
    [InlineData("{ to: [{ operation: {} }] }", "spec.rules[0].to[0].operation",
        "names nothing: set methods, notMethods, paths, notPaths, ports or notPorts, or leave this to item out to match any request")]
    [InlineData("{ to: [{ operation: { method: [GET] } }] }", "spec.rules[0].to[0].operation.method", "unknown field; did you mean \"methods\"?")]
    [InlineData("{ to: [{ operation: { paths: /a } }] }", "spec.rules[0].to[0].operation.paths", "expected list, got string")]
    [InlineData("{ when: [{ values: [a] }] }", "spec.rules[0].when[0].key", "required field is missing")]
    [InlineData("{ when: [{ key: \"request.headers[a]\", value: [a] }] }", "spec.rules[0].when[0].value", "unknown field; did you mean \"values\"?")]
    [InlineData("{ when: [{ key: \"request.headers[a]\" }] }", "spec.rules[0].when[0]", "at least one of values or notValues is required")]
    [InlineData("{ when: [{ key: \"request.headers[a]\", values: [] }] }", "spec.rules[0].when[0]", "at least one of values or notValues is required")]
    [InlineData("{ when: [{ key: source.ip, values: [10.0.0.1] }] }", "spec.rules[0].when[0].key",
        "unsupported key \"source.ip\": the supported key is request.headers[NAME]; use from and to for principals, namespaces, methods, paths and ports")]
    [InlineData("{ when: [{ key: \"request.headers[x y]\", values: [a] }] }", "spec.rules[0].when[0].key", "invalid header name \"x y\" in key \"request.headers[x y]\"")]
    [InlineData("{ when: [{ key: \"request.headers[]\", values: [a] }] }", "spec.rules[0].when[0].key", "invalid header name \"\" in key \"request.headers[]\"")]
    // Principals and namespaces.
    [InlineData("{ from: [{ source: { principals: [\"\"] } }] }", "spec.rules[0].from[0].source.principals[0]", "must not be empty")]
    [InlineData("{ from: [{ source: { principals: [7] } }] }", "spec.rules[0].from[0].source.principals[0]", "expected string, got integer")]
    [InlineData("{ from: [{ source: { principals: [\"a*b\"] } }] }", "spec.rules[0].from[0].source.principals[0]",
        "invalid principal \"a*b\": '*' may only be the whole value, or lead or end it")]
    [InlineData("{ from: [{ source: { principals: [\"*td/ns/a/*\"] } }] }", "spec.rules[0].from[0].source.principals[0]",
        "invalid principal \"*td/ns/a/*\": '*' may only be the whole value, or lead or end it")]
    [InlineData("{ from: [{ source: { notPrincipals: [\"spiffe://\"] } }] }", "spec.rules[0].from[0].source.notPrincipals[0]",
        "invalid principal \"spiffe://\": names no workload")]
    [InlineData("{ from: [{ source: { principals: [\"td/ns/a b/*\"] } }] }", "spec.rules[0].from[0].source.principals[0]",
        "invalid principal \"td/ns/a b/*\": must not contain whitespace")]
    [InlineData("{ from: [{ source: { principals: [web] } }] }", "spec.rules[0].from[0].source.principals[0]",
        "invalid principal \"web\": the SPIFFE ID \"spiffe://web\" names a trust domain, not a workload (no path)")]
    [InlineData("{ from: [{ source: { principals: [\"td/ns/a/sa\"] } }] }", "spec.rules[0].from[0].source.principals[0]",
        "invalid principal \"td/ns/a/sa\": the SPIFFE ID \"spiffe://td/ns/a/sa\" is not of the form spiffe://TRUST-DOMAIN/ns/NAMESPACE/sa/SERVICE-ACCOUNT")]
    [InlineData("{ from: [{ source: { principals: [\"spiffe://TD/ns/a/sa/b\"] } }] }", "spec.rules[0].from[0].source.principals[0]",
        "invalid principal \"spiffe://TD/ns/a/sa/b\": the SPIFFE ID \"spiffe://TD/ns/a/sa/b\" trust domain \"TD\" holds 'T' (lower-case letters, digits, '.', '-', '_' only)")]
    [InlineData("{ from: [{ source: { principals: [\"td/ns/Shop/sa/b\"] } }] }", "spec.rules[0].from[0].source.principals[0]",
        "invalid principal \"td/ns/Shop/sa/b\": namespace \"Shop\" must be a lowercase RFC 1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit")]
    [InlineData("{ from: [{ source: { principals: [\"td/ns/shop/sa/Web\"] } }] }", "spec.rules[0].from[0].source.principals[0]",
        "invalid principal \"td/ns/shop/sa/Web\": service account \"Web\" must be a lowercase RFC 1123 subdomain: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit")]
    [InlineData("{ from: [{ source: { namespaces: [Shop] } }] }", "spec.rules[0].from[0].source.namespaces[0]",
        "invalid namespace \"Shop\": must be a lowercase RFC 1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit")]
    [InlineData("{ from: [{ source: { namespaces: [\"Prod-*\"] } }] }", "spec.rules[0].from[0].source.namespaces[0]",
        "invalid namespace \"Prod-*\": a namespace holds only lowercase letters, digits and '-'")]
    [InlineData("{ from: [{ source: { notNamespaces: [\"a*b\"] } }] }", "spec.rules[0].from[0].source.notNamespaces[0]",
        "invalid namespace \"a*b\": '*' may only be the whole value, or lead or end it")]
    // Methods and ports.
    [InlineData("{ to: [{ operation: { methods: [\"*\"] } }] }", "spec.rules[0].to[0].operation.methods[0]",
        "invalid method \"*\": methods match exactly ('*' is not a wildcard here)")]
    [InlineData("{ to: [{ operation: { notMethods: [\"GE T\"] } }] }", "spec.rules[0].to[0].operation.notMethods[0]",
        "invalid method \"GE T\": must be an HTTP token (letters, digits and !#$%&'+-.^_`|~)")]
    [InlineData("{ to: [{ operation: { methods: [\"\"] } }] }", "spec.rules[0].to[0].operation.methods[0]", "must not be empty")]
    [InlineData("{ to: [{ operation: { ports: [0] } }] }", "spec.rules[0].to[0].operation.ports[0]", "must be between 1 and 65535, got 0")]
    [InlineData("{ to: [{ operation: { notPorts: [\"80\"] } }] }", "spec.rules[0].to[0].operation.notPorts[0]", "expected integer, got string")]
    // Header values.
    [InlineData("{ when: [{ key: \"request.headers[a]\", values: [\"*a*\"] }] }", "spec.rules[0].when[0].values[0]",
        "invalid value \"*a*\": '*' may only be the whole value, or lead or end it")]
    [InlineData("{ when: [{ key: \"request.headers[a]\", notValues: [\"\"] }] }", "spec.rules[0].when[0].notValues[0]", "must not be empty")]
    public void Rule_errors(string rule, string path, string message)
    {
        var e = Yaml.Error(WithRule(rule));
        Assert.Equal((path, 7, message), (e.Path, e.Line, e.Message));
    }

    [Fact]
    public void A_from_item_without_its_source_says_both_what_is_missing_and_what_is_unknown()
    {
        var errors = Yaml.Errors(WithRule("{ from: [{ principals: [\"*\"] }] }"));
        Assert.Equal("required field is missing", errors.At("spec.rules[0].from[0].source").Message);
        Assert.Equal("unknown field", errors.At("spec.rules[0].from[0].principals").Message);
        Assert.Equal(2, errors.Count);
    }

    [Theory]
    [InlineData("*")]
    [InlineData("/")]
    [InlineData("/admin")]
    [InlineData("/admin/")]
    [InlineData("/admin/*")]
    [InlineData("/*")]
    [InlineData("*.php")]
    [InlineData("*/")]
    [InlineData("*..")]
    [InlineData("/.well-known/acme")]
    [InlineData("/a..b/c.")]
    [InlineData("/a/.*")]
    [InlineData("/a/..*")]
    [InlineData("/~user/%20x%3A%2F%5C")]
    [InlineData("/a:b@c!$&'()+,=")]
    public void Normalized_paths_are_accepted(string path)
    {
        var rule = Assert.Single(Yaml.Single<AuthorizationPolicyResource>(WithRule($"{{ to: [{{ operation: {{ paths: [\"{path}\"] }} }}] }}")).Spec.Rules);
        Assert.Equal(path, Assert.Single(rule.To[0].Operation.Paths));
    }

    [Theory]
    [InlineData("admin", "invalid path \"admin\": must be \"*\", a suffix like \"*.php\", or start with \"/\" (exact, or a prefix ending in \"*\")")]
    [InlineData("/a*b", "invalid path \"/a*b\": '*' may only be the whole value, or lead or end it")]
    [InlineData("**", "invalid path \"**\": '*' may only be the whole value, or lead or end it")]
    [InlineData("/a//b", "not a normalized path: requests are matched after normalization (docs/security.md), so \"/a//b\" would never match; write \"/a/b\"")]
    [InlineData("/a/./b", "not a normalized path: requests are matched after normalization (docs/security.md), so \"/a/./b\" would never match; write \"/a/b\"")]
    [InlineData("/a/../b", "not a normalized path: requests are matched after normalization (docs/security.md), so \"/a/../b\" would never match; write \"/b\"")]
    [InlineData("/..", "not a normalized path: requests are matched after normalization (docs/security.md), so \"/..\" would never match; write \"/\"")]
    [InlineData("/a/.", "not a normalized path: requests are matched after normalization (docs/security.md), so \"/a/.\" would never match; write \"/a/\"")]
    [InlineData("/a/%2E%2e/b", "not a normalized path: requests are matched after normalization (docs/security.md), so \"/a/%2E%2e/b\" would never match; write \"/b\"")]
    [InlineData("/%41dmin", "not a normalized path: requests are matched after normalization (docs/security.md), so \"/%41dmin\" would never match; write \"/Admin\"")]
    [InlineData("/a%3ab", "not a normalized path: requests are matched after normalization (docs/security.md), so \"/a%3ab\" would never match; write \"/a%3Ab\"")]
    [InlineData("/caf\u00e9 menu", "not a normalized path: requests are matched after normalization (docs/security.md), so \"/caf\u00e9 menu\" would never match; write \"/caf%C3%A9%20menu\"")]
    [InlineData("/a//*", "not a normalized path: requests are matched after normalization (docs/security.md), so \"/a//*\" would never match; write \"/a/*\"")]
    [InlineData("/../a*", "not a normalized path: requests are matched after normalization (docs/security.md), so \"/../a*\" would never match; write \"/a*\"")]
    [InlineData("*//x", "not a normalized path: requests are matched after normalization (docs/security.md), so \"*//x\" would never match; write \"*/x\"")]
    [InlineData("*x/./y", "not a normalized path: requests are matched after normalization (docs/security.md), so \"*x/./y\" would never match; write \"*x/y\"")]
    [InlineData("*/../x", "not a normalized path: requests are matched after normalization (docs/security.md), so \"*/../x\" would never match")]
    [InlineData("*%7e", "not a normalized path: requests are matched after normalization (docs/security.md), so \"*%7e\" would never match; write \"*~\"")]
    [InlineData("/a;jsessionid=1", "invalid path \"/a;jsessionid=1\": path parameters (\";...\") are not matched, rules match the path without them; write \"/a\"")]
    [InlineData("/a;v=1/b*", "invalid path \"/a;v=1/b*\": path parameters (\";...\") are not matched, rules match the path without them; write \"/a/b*\"")]
    [InlineData("*.jsp;x", "invalid path \"*.jsp;x\": path parameters (\";...\") are not matched, rules match the path without them; write \"*.jsp\"")]
    [InlineData("*;x", "invalid path \"*;x\": path parameters (\";...\") are not matched, rules match the path without them")]
    [InlineData("/a?b=1", "invalid path \"/a?b=1\": '?' ends a path, and rules match the path alone")]
    [InlineData("*#top", "invalid path \"*#top\": '#' ends a path, and rules match the path alone")]
    [InlineData("/a\\b", "invalid path \"/a\\b\": a backslash is refused in request paths by default (some servers read it as '/'; docs/proxy.md, \"Paths\")")]
    [InlineData("*\\x", "invalid path \"*\\x\": a backslash is refused in request paths by default (some servers read it as '/'; docs/proxy.md, \"Paths\")")]
    [InlineData("/a%zz", "invalid path \"/a%zz\": '%' must be followed by two hex digits")]
    [InlineData("/a%4*", "invalid path \"/a%4*\": '%' must be followed by two hex digits")]
    [InlineData("/a%00", "invalid path \"/a%00\": an encoded NUL (%00) is refused in request paths")]
    public void Paths_a_request_could_never_match_are_refused(string path, string message)
    {
        var yaml = WithRule("{ to: [{ operation: { paths: [\"/ok\", " + YamlString(path) + "] } }] }");
        var e = Yaml.Error(yaml);
        Assert.Equal(("spec.rules[0].to[0].operation.paths[1]", 7, message), (e.Path, e.Line, e.Message));
        // notPaths follow the same rule.
        e = Yaml.Error(yaml.Replace("paths:", "notPaths:", StringComparison.Ordinal));
        Assert.Equal(("spec.rules[0].to[0].operation.notPaths[1]", 7, message), (e.Path, e.Line, e.Message));
    }

    // Single-quoted YAML: a backslash is literal, a quote is doubled.
    private static string YamlString(string s) => "'" + s.Replace("'", "''", StringComparison.Ordinal) + "'";

    [Fact]
    public void Every_error_of_a_policy_is_reported_at_its_line()
    {
        var errors = Yaml.Errors("""
            apiVersion: weft.dev/v1
            kind: AuthorizationPolicy
            metadata: { name: Bad_Name }
            spec:
              targetRef: { kind: Mesh, name: all }
              action: REJECT
              rules:
              - from:
                - source: { principals: ["nope"], namespaces: ["a*b"] }
                to:
                - operation: { paths: ["/a//b"], ports: [70000] }
                when:
                - key: request.path
                  values: [x]
            """);
        Assert.Equal(3, errors.At("metadata.name").Line);
        Assert.Equal(5, errors.At("spec.targetRef.name").Line);
        Assert.Equal(6, errors.At("spec.action").Line);
        Assert.Equal(9, errors.At("spec.rules[0].from[0].source.principals[0]").Line);
        Assert.Equal(9, errors.At("spec.rules[0].from[0].source.namespaces[0]").Line);
        Assert.Equal(11, errors.At("spec.rules[0].to[0].operation.paths[0]").Line);
        Assert.Equal(11, errors.At("spec.rules[0].to[0].operation.ports[0]").Line);
        Assert.Equal(13, errors.At("spec.rules[0].when[0].key").Line);
        Assert.Equal(8, errors.Count);
    }

    [Fact]
    public void Is_written_with_the_weft_api_version()
    {
        var e = Yaml.Error("apiVersion: gateway.networking.k8s.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: p }\nspec: { targetRef: { kind: Mesh } }\n");
        Assert.Equal(("apiVersion", "kind AuthorizationPolicy has apiVersion weft.dev/v1, not gateway.networking.k8s.io/v1"), (e.Path, e.Message));
    }

    [Fact]
    public void Name_is_a_dns_subdomain()
    {
        var policy = Yaml.Single<AuthorizationPolicyResource>(Head.Replace("name: p", "name: backend.admin-v2", StringComparison.Ordinal) + "  targetRef: { kind: Mesh }\n");
        Assert.Equal("backend.admin-v2", policy.Metadata.Name);
        Assert.Equal(ResourceKinds.AuthorizationPolicy, ResourceParser.ParseKind("authorizationpolicies"));
    }
}
