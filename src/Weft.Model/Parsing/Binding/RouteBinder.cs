using System.Text.RegularExpressions;
using Weft.Model.Resources;

namespace Weft.Model.Parsing.Binding;

/// <summary>The Gateway API pieces HTTPRoute and GRPCRoute share: parentRefs, rule names, hostnames, backendRefs, header matches, filters.</summary>
internal static partial class RouteBinder
{
    private const int MaxHeaderModifications = 16;

    public static EquatableList<ParentReference> ParentRefs(ObjectReader spec, string routeNamespace)
    {
        var seen = new UniqueKeys("parentRef");
        return spec.List("parentRefs", item =>
        {
            var o = item.AsObject("group", "kind", "namespace", "name", "sectionName", "port");
            if (o is null) return null;
            var group = o.String("group") ?? ApiVersions.GatewayGroup;
            var kind = o.String("kind") ?? ResourceKinds.Gateway;
            var name = o.RequiredString("name");
            var ns = Namespace(o, routeNamespace);
            var section = o.String("sectionName");
            // SectionName: a listener name on a Gateway, a port name on a Service; both DNS-1123 subdomains.
            if (section is not null && KubernetesNames.Dns1123Subdomain(section) is { } se) o.Error("sectionName", $"invalid sectionName \"{section}\": {se}");
            var port = o.Int("port", 1, 65535);
            var parent = new ParentReference(group, kind, ns, name, section, port);
            if (kind == ResourceKinds.Service && !o.Has("group"))
                // The commonest GAMMA mistake: the Gateway API's default group does not hold Services.
                o.Error("group", "a Service parent needs group: \"\" (the default group is gateway.networking.k8s.io)");
            else if (!parent.IsService && !parent.IsGateway)
                o.Error(o.Has("kind") ? "kind" : "group",
                    $"unsupported parent {Describe(group, kind)}: a route attaches to a Service (group: \"\", kind: Service) or a Gateway (group: {ApiVersions.GatewayGroup}, kind: Gateway)");
            seen.Check(item, $"{group}/{kind}/{ns}/{name}/{section}/{port}");
            return parent;
        }, maxItems: 32);
    }

    /// <summary>
    /// What every route rule starts with: its optional name (a DNS-1123 subdomain, unique in the route)
    /// and sessionPersistence, which is refused until it is supported.
    /// </summary>
    public static string? RuleName(ObjectReader rule, UniqueKeys names)
    {
        if (rule.Has("sessionPersistence")) rule.Error("sessionPersistence", "not supported yet");
        var name = rule.String("name");
        if (name is not null)
        {
            if (KubernetesNames.Dns1123Subdomain(name) is { } e) rule.Error("name", $"invalid rule name \"{name}\": {e}");
            names.Check(rule.Field("name")!, name);
        }
        return name;
    }

    public static EquatableList<string> Hostnames(ObjectReader spec) =>
        spec.List("hostnames", item =>
        {
            var h = item.AsString();
            if (h is not null && KubernetesNames.Hostname(h) is { } e) { item.Error($"invalid hostname \"{h}\": {e}"); return null; }
            return h;
        }, maxItems: 16);

    /// <summary>backendRefs of a rule; <paramref name="filterTypes"/> are the filter types the route kind allows.</summary>
    public static EquatableList<BackendRef> BackendRefs(ObjectReader rule, string routeNamespace, RouteFilterType[] filterTypes) =>
        rule.List("backendRefs", item =>
        {
            var o = item.AsObject("group", "kind", "name", "namespace", "port", "weight", "filters");
            if (o is null) return null;
            var (group, kind, name, ns, port) = BackendObject(o, routeNamespace);
            var weight = o.Int("weight", 0, BackendRef.MaxWeight, BackendRef.DefaultWeight);
            var filters = Filters(o, routeNamespace, filterTypes);
            return new BackendRef(group, kind, name, ns, port, weight, filters);
        }, maxItems: 16);

    private static (string Group, string Kind, string Name, string Namespace, int? Port) BackendObject(ObjectReader o, string routeNamespace)
    {
        var group = o.String("group") ?? "";
        var kind = o.String("kind") ?? ResourceKinds.Service;
        if (group.Length != 0 || kind != ResourceKinds.Service)
            o.Error(o.Has("kind") ? "kind" : "group",
                $"unsupported backend {Describe(group, kind)}: only Services are supported (group: \"\", kind: Service)");
        var name = o.RequiredString("name");
        if (name.Length > 0 && KubernetesNames.Dns1035Label(name) is { } e) o.Error("name", $"invalid Service name \"{name}\": {e}");
        return (group, kind, name, Namespace(o, routeNamespace), o.Int("port", 1, 65535));
    }

    // Checked only when written here: an inherited route namespace was already checked in metadata.
    private static string Namespace(ObjectReader o, string routeNamespace)
    {
        var ns = o.String("namespace");
        if (ns is null) return routeNamespace;
        if (KubernetesNames.Dns1123Label(ns) is { } e) o.Error("namespace", $"invalid namespace \"{ns}\": {e}");
        return ns;
    }

    private static string Describe(string group, string kind) => group.Length == 0 ? $"kind {kind} (core group)" : $"{group}/{kind}";

    /// <summary>Header or query-param matches; names unique (case-insensitive for headers, as HTTP does).</summary>
    public static EquatableList<HeaderMatch> HeaderMatches(ObjectReader o, string field, bool isHeader)
    {
        var seen = new UniqueKeys(isHeader ? "header match" : "query param match", isHeader ? StringComparer.OrdinalIgnoreCase : StringComparer.Ordinal);
        return o.List(field, item =>
        {
            var m = item.AsObject("type", "name", "value");
            if (m is null) return null;
            var type = m.Enum("type", StringMatchType.Exact);
            var name = m.RequiredString("name");
            if (isHeader && name.Length > 0 && !IsHeaderName(name)) m.Error("name", $"invalid header name \"{name}\"");
            var value = m.Field("value") is { } v ? v.AsString() ?? "" : Missing(m, "value");
            if (type == StringMatchType.RegularExpression) CheckRegex(m, "value", value);
            seen.Check(item, name);
            return new HeaderMatch(type, name, value);
        }, maxItems: 16);
    }

    private static string Missing(ObjectReader o, string field)
    {
        o.Error(field, "required field is missing");
        return "";
    }

    public static void CheckRegex(ObjectReader o, string field, string pattern)
    {
        try
        {
            // The proxy runs route regexes with the non-backtracking engine (linear time); checking with
            // the same engine here rejects at apply what every proxy would otherwise NACK.
            _ = new Regex(pattern, RegexOptions.CultureInvariant | RegexOptions.NonBacktracking);
        }
        catch (ArgumentException e)
        {
            o.Error(field, $"invalid regular expression: {e.Message}");
        }
        catch (NotSupportedException e)
        {
            o.Error(field, $"invalid regular expression: route regexes run in linear time, so: {e.Message}");
        }
    }

    public static bool IsHeaderName(string name) => HeaderName().IsMatch(name);

    private static readonly string[] FilterFields =
        ["type", "requestHeaderModifier", "responseHeaderModifier", "requestMirror", "requestRedirect", "urlRewrite", "extensionRef"];

    /// <summary>
    /// filters of a rule or backendRef. The member named after the type must be set and no other
    /// (Gateway API CEL rules); each type at most once per list, except RequestMirror.
    /// </summary>
    public static EquatableList<RouteFilter> Filters(ObjectReader owner, string routeNamespace, RouteFilterType[] allowed)
    {
        var seen = new UniqueKeys("filter of type");
        return owner.List("filters", item =>
        {
            var o = item.AsObject(FilterFields);
            if (o is null) return null;
            var typeNode = o.Field("type");
            if (typeNode is null) { o.Error("type", "required field is missing"); return null; }
            if (typeNode.AsEnum<RouteFilterType>() is not { } type) return null;
            if (Array.IndexOf(allowed, type) < 0)
            {
                o.Error("type", $"filter type {WireEnum<RouteFilterType>.Name(type)} is not allowed here; allowed: {string.Join(", ", allowed.Select(WireEnum<RouteFilterType>.Name))}");
                return null;
            }
            var member = MemberOf(type);
            foreach (var f in FilterFields)
                if (f != "type" && f != member && o.Has(f))
                    o.Error(f, $"must not be set when type is {WireEnum<RouteFilterType>.Name(type)}");
            if (!o.Has(member)) { o.Error(member, $"required when type is {WireEnum<RouteFilterType>.Name(type)}"); return null; }
            if (type != RouteFilterType.RequestMirror) seen.Check(item, WireEnum<RouteFilterType>.Name(type));
            return type switch
            {
                RouteFilterType.RequestHeaderModifier => Wrap(type, headers: o.Object(member, HeaderModifierFields, HeaderModifier)),
                RouteFilterType.ResponseHeaderModifier => Wrap(type, headers: o.Object(member, HeaderModifierFields, HeaderModifier)),
                RouteFilterType.RequestMirror => Wrap(type, mirror: o.Object(member, ["backendRef", "percent", "fraction"], m => Mirror(m, routeNamespace))),
                RouteFilterType.RequestRedirect => Wrap(type, redirect: o.Object(member, ["scheme", "hostname", "path", "port", "statusCode"], Redirect)),
                _ => Wrap(type, rewrite: o.Object(member, ["hostname", "path"], Rewrite)),
            };
        }, maxItems: 16);
    }

    private static string MemberOf(RouteFilterType type) => type switch
    {
        RouteFilterType.RequestHeaderModifier => "requestHeaderModifier",
        RouteFilterType.ResponseHeaderModifier => "responseHeaderModifier",
        RouteFilterType.RequestMirror => "requestMirror",
        RouteFilterType.RequestRedirect => "requestRedirect",
        _ => "urlRewrite",
    };

    private static RouteFilter? Wrap(RouteFilterType type, HeaderModifier? headers = null, RequestMirror? mirror = null,
        RequestRedirect? redirect = null, UrlRewrite? rewrite = null) => type switch
    {
        RouteFilterType.RequestHeaderModifier when headers is not null => new RouteFilter(type, RequestHeaderModifier: headers),
        RouteFilterType.ResponseHeaderModifier when headers is not null => new RouteFilter(type, ResponseHeaderModifier: headers),
        RouteFilterType.RequestMirror when mirror is not null => new RouteFilter(type, RequestMirror: mirror),
        RouteFilterType.RequestRedirect when redirect is not null => new RouteFilter(type, RequestRedirect: redirect),
        RouteFilterType.UrlRewrite when rewrite is not null => new RouteFilter(type, UrlRewrite: rewrite),
        _ => null,
    };

    private static readonly string[] HeaderModifierFields = ["set", "add", "remove"];

    private static HeaderModifier HeaderModifier(ObjectReader o)
    {
        // One header name may appear once across set, add and remove: two instructions for one header would contradict.
        var names = new UniqueKeys("header", StringComparer.OrdinalIgnoreCase);
        EquatableList<HttpHeader> Headers(string field)
        {
            var list = o.List(field, item =>
            {
                var h = item.AsObject("name", "value");
                if (h is null) return null;
                var name = h.RequiredString("name");
                if (name.Length > 0 && !IsHeaderName(name)) h.Error("name", $"invalid header name \"{name}\"");
                var value = h.Field("value") is { } v ? v.AsString() ?? "" : Missing(h, "value");
                names.Check(item, name);
                return new HttpHeader(name, value);
            });
            if (list.Count > MaxHeaderModifications) o.Error(field, $"at most {MaxHeaderModifications} entries");
            return list;
        }
        var set = Headers("set");
        var add = Headers("add");
        var remove = o.List("remove", item =>
        {
            var name = item.AsString();
            if (name is null) return null;
            if (!IsHeaderName(name)) item.Error($"invalid header name \"{name}\"");
            names.Check(item, name);
            return name;
        });
        if (remove.Count > MaxHeaderModifications) o.Error("remove", $"at most {MaxHeaderModifications} entries");
        if (set.Count + add.Count + remove.Count == 0) o.Error("at least one of set, add or remove is required");
        return new HeaderModifier(set, add, remove);
    }

    private static RequestMirror? Mirror(ObjectReader o, string routeNamespace)
    {
        var backend = o.Object("backendRef", ["group", "kind", "name", "namespace", "port"], b =>
        {
            var (group, kind, name, ns, port) = BackendObject(b, routeNamespace);
            return new BackendObjectReference(group, kind, name, ns, port);
        });
        if (!o.Has("backendRef")) o.Error("backendRef", "required field is missing");
        var percent = o.Int("percent", 0, 100);
        var fraction = o.Object("fraction", ["numerator", "denominator"], f =>
        {
            var n = f.RequiredInt("numerator", 0, int.MaxValue) ?? 0;
            var d = f.Int("denominator", 1, int.MaxValue, 100);
            if (n > d) f.Error("numerator", "must not be greater than denominator");
            return new MirrorFraction(n, d);
        });
        if (percent is not null && fraction is not null) o.Error("fraction", "only one of percent and fraction may be set");
        return backend is null ? null : new RequestMirror(backend, percent, fraction);
    }

    private static readonly int[] RedirectCodes = [301, 302, 303, 307, 308];

    private static RequestRedirect? Redirect(ObjectReader o)
    {
        var scheme = o.String("scheme");
        if (scheme is not null and not "http" and not "https") o.Error("scheme", $"unsupported scheme \"{scheme}\"; expected http or https");
        var hostname = OptionalHostname(o);
        var path = o.Object("path", PathModifierFields, PathModifier);
        var port = o.Int("port", 1, 65535);
        var code = o.Int("statusCode", 100, 599, RequestRedirect.DefaultStatusCode);
        if (Array.IndexOf(RedirectCodes, code) < 0) o.Error("statusCode", $"unsupported status code {code}; expected one of 301, 302, 303, 307, 308");
        return new RequestRedirect(scheme, hostname, path, port, code);
    }

    private static UrlRewrite? Rewrite(ObjectReader o)
    {
        var hostname = OptionalHostname(o);
        var path = o.Object("path", PathModifierFields, PathModifier);
        return new UrlRewrite(hostname, path);
    }

    private static string? OptionalHostname(ObjectReader o)
    {
        var h = o.String("hostname");
        if (h is not null && (h.StartsWith('*') || KubernetesNames.Hostname(h) is not null))
            o.Error("hostname", $"invalid hostname \"{h}\": must be a lowercase DNS name without wildcard");
        return h;
    }

    private static readonly string[] PathModifierFields = ["type", "replaceFullPath", "replacePrefixMatch"];

    private static HttpPathModifier? PathModifier(ObjectReader o)
    {
        var type = o.RequiredEnum<PathModifierType>("type");
        var full = o.String("replaceFullPath");
        var prefix = o.String("replacePrefixMatch");
        var (needed, other) = type == PathModifierType.ReplaceFullPath ? ("replaceFullPath", "replacePrefixMatch") : ("replacePrefixMatch", "replaceFullPath");
        if (!o.Has(needed)) o.Error(needed, $"required when type is {WireEnum<PathModifierType>.Name(type)}");
        if (o.Has(other)) o.Error(other, $"must not be set when type is {WireEnum<PathModifierType>.Name(type)}");
        var value = type == PathModifierType.ReplaceFullPath ? full : prefix;
        if (value is not null && !value.StartsWith('/')) o.Error(needed, "must start with \"/\"");
        return new HttpPathModifier(type, type == PathModifierType.ReplaceFullPath ? full : null, type == PathModifierType.ReplacePrefixMatch ? prefix : null);
    }

    // RFC 7230 token.
    [GeneratedRegex("^[A-Za-z0-9!#$%&'*+\\-.^_`|~]+$")]
    private static partial Regex HeaderName();
}
