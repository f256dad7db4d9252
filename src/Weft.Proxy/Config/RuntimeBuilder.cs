using System.Collections.Concurrent;
using System.Collections.Frozen;
using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Weft.Protocol.Discovery;
using Weft.Proxy.Upstream;
using Weft.Proxy.Routing;
using Tls = Weft.Proxy.Codecs.Tls;

namespace Weft.Proxy.Config;

using Protocol = Weft.Protocol.Discovery.Protocol;

/// <summary>
/// Validates a whole ProxyResources and compiles it into a ProxyRuntime. Every error is collected,
/// each prefixed with the resource key and field path, before anything is published. Pure apart
/// from the endpoint stats registry, which only hands out counters.
/// </summary>
internal sealed class RuntimeBuilder
{
    // Regexes run on the request path: NonBacktracking keeps them linear (RE2-like, as Envoy's) so a
    // route cannot be turned into a ReDoS; constructs it cannot run (backreferences, lookarounds) are rejected.
    private const RegexOptions RouteRegexOptions = RegexOptions.CultureInvariant | RegexOptions.NonBacktracking;

    private readonly ConcurrentDictionary<string, EndpointStats> _endpointStats = new(StringComparer.Ordinal);

    public sealed record Result(ProxyRuntime? Runtime, IReadOnlyList<string> Errors, IReadOnlyList<string> Warnings);

    public Result Build(ProxyResources resources, ProxyRuntime previous)
    {
        var errors = new List<string>();
        var warnings = new List<string>();
        var listenerSpecs = new List<(string Key, Listener Spec)>();
        var routeSpecs = new Dictionary<string, (string Key, RouteTable Spec)>(StringComparer.Ordinal);
        var clusterSpecs = new Dictionary<string, (string Key, Cluster Spec)>(StringComparer.Ordinal);
        var endpointSpecs = new Dictionary<string, (string Key, ClusterEndpoints Spec)>(StringComparer.Ordinal);
        ProxySettings? settings = null;
        Security.MeshTrustBundle? trustBundle = null;

        foreach (var (key, resource) in resources.Items.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            var expectedKey = ResourceKeys.Of(resource);
            if (resource.KindCase == Resource.KindOneofCase.None)
            {
                errors.Add(key + ": unknown resource kind");
                continue;
            }
            if (!string.Equals(key, expectedKey, StringComparison.Ordinal))
                errors.Add(key + ": key does not match the resource, expected \"" + expectedKey + "\"");
            switch (resource.KindCase)
            {
                case Resource.KindOneofCase.Listener:
                    listenerSpecs.Add((key, resource.Listener));
                    break;
                case Resource.KindOneofCase.RouteTable:
                    routeSpecs[resource.Name] = (key, resource.RouteTable);
                    break;
                case Resource.KindOneofCase.Cluster:
                    clusterSpecs[resource.Name] = (key, resource.Cluster);
                    break;
                case Resource.KindOneofCase.Endpoints:
                    var clusterName = string.IsNullOrEmpty(resource.Endpoints.Cluster) ? resource.Name : resource.Endpoints.Cluster;
                    endpointSpecs[clusterName] = (key, resource.Endpoints);
                    break;
                case Resource.KindOneofCase.Settings:
                    if (resource.Name != ResourceKeys.ProxySettingsName)
                        errors.Add(key + ": name: a proxy takes one settings resource, named \"" + ResourceKeys.ProxySettingsName + "\"");
                    ProxyLimits.Validate(key, resource.Settings, errors);
                    settings = resource.Settings;
                    break;
                case Resource.KindOneofCase.TrustBundle:
                    trustBundle = BuildTrustBundle(key, resource, errors);
                    break;
            }
        }

        var clusters = new Dictionary<string, ClusterRuntime>(StringComparer.Ordinal);
        foreach (var (name, (key, spec)) in clusterSpecs)
        {
            var cluster = BuildCluster(name, key, spec, endpointSpecs, previous, errors);
            if (cluster is not null)
                clusters[name] = cluster;
        }
        foreach (var (cluster, (key, spec)) in endpointSpecs)
        {
            // Endpoints of a cluster that is not (yet) configured are harmless but still checked.
            if (!clusterSpecs.ContainsKey(cluster))
                ValidateEndpoints(key, spec, errors);
        }

        var tables = new Dictionary<string, RouteTableRuntime>(StringComparer.Ordinal);
        foreach (var (name, (key, spec)) in routeSpecs)
            tables[name] = BuildRouteTable(name, key, spec, clusters, errors);

        var listeners = new Dictionary<int, ListenerRuntime>();
        foreach (var (key, spec) in listenerSpecs)
        {
            var listener = BuildListener(key, spec, tables, clusterSpecs, errors, warnings);
            if (listener is null)
                continue;
            if (listeners.TryGetValue(listener.Port, out var other))
                errors.Add(key + ": port: " + listener.Port.ToString(CultureInfo.InvariantCulture) + " is already used by " + other.Key);
            else
                listeners[listener.Port] = listener;
        }

        if (errors.Count != 0)
            return new Result(null, errors, warnings);
        return new Result(new ProxyRuntime(resources, listeners.ToFrozenDictionary(), clusters.ToFrozenDictionary(StringComparer.Ordinal),
            ProxyLimits.From(settings)) { TrustBundle = trustBundle }, errors, warnings);
    }

    /// <summary>The mesh's roots: PEM certificates, one of which is the issuing root named.</summary>
    private static Security.MeshTrustBundle? BuildTrustBundle(string key, Resource resource, List<string> errors)
    {
        if (resource.Name != ResourceKeys.TrustBundleName)
            errors.Add(key + ": name: a proxy takes one trust bundle, named \"" + ResourceKeys.TrustBundleName + "\"");
        var roots = new System.Security.Cryptography.X509Certificates.X509Certificate2Collection();
        try
        {
            roots.ImportFromPem(resource.TrustBundle.RootsPem);
        }
        catch (System.Security.Cryptography.CryptographicException e)
        {
            errors.Add(key + ": roots_pem: not PEM certificates: " + e.Message);
            return null;
        }
        if (roots.Count == 0)
        {
            errors.Add(key + ": roots_pem: no certificate");
            return null;
        }
        var issuer = resource.TrustBundle.IssuerRootSha256;
        if (!roots.Any(r => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(r.RawData)) == issuer))
        {
            errors.Add(key + ": issuer_root_sha256: \"" + issuer + "\" is none of the bundle's roots");
            return null;
        }
        return new Security.MeshTrustBundle(roots, issuer, (long)resource.TrustBundle.Generation);
    }

    /// <summary>Drops counters of endpoints the published runtime no longer has, so churn does not grow memory.</summary>
    public void ForgetEndpointsNotIn(ProxyRuntime current)
    {
        var live = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, cluster) in current.Clusters)
        {
            foreach (var e in cluster.Endpoints)
                live.Add(StatsKey(name, e.Address, (uint)e.Port));
        }
        foreach (var key in _endpointStats.Keys)
        {
            if (!live.Contains(key))
                _endpointStats.TryRemove(key, out _);
        }
    }

    private static string StatsKey(string cluster, string address, uint port) =>
        cluster + "|" + address + ":" + port.ToString(CultureInfo.InvariantCulture);

    private ClusterRuntime? BuildCluster(string name, string key, Cluster spec,
        Dictionary<string, (string Key, ClusterEndpoints Spec)> endpointSpecs, ProxyRuntime previous, List<string> errors)
    {
        var before = errors.Count;
        if (!Enum.IsDefined(spec.Protocol))
            errors.Add(key + ": protocol: unknown protocol " + ((int)spec.Protocol).ToString(CultureInfo.InvariantCulture));
        if (!Enum.IsDefined(spec.LbPolicy))
            errors.Add(key + ": lb_policy: unknown load balancer " + ((int)spec.LbPolicy).ToString(CultureInfo.InvariantCulture));
        var endpoints = Array.Empty<EndpointRuntime>();
        if (endpointSpecs.TryGetValue(name, out var eps))
        {
            if (ValidateEndpoints(eps.Key, eps.Spec, errors))
            {
                endpoints = new EndpointRuntime[eps.Spec.Endpoints.Count];
                for (var i = 0; i < endpoints.Length; i++)
                {
                    var e = eps.Spec.Endpoints[i];
                    var stats = _endpointStats.GetOrAdd(StatsKey(name, e.Address, e.Port),
                        static _ => new EndpointStats());
                    var service = string.IsNullOrEmpty(e.Service) ? spec.Service : e.Service;
                    endpoints[i] = new EndpointRuntime(e.Address, (int)e.Port, e.InstanceId, service, e.Version, stats,
                        spec.Mtls ? new Security.Mtls.ExpectedPeer(string.IsNullOrEmpty(spec.Namespace) ? "default" : spec.Namespace, service) : null);
                }
            }
        }
        if (errors.Count != before)
            return null;
        // Continue the rotation where the previous runtime left it, so config pushes do not skew load to endpoint 0.
        var start = previous.Clusters.TryGetValue(name, out var old) && old.Balancer is RoundRobinBalancer rr ? rr.Position : -1;
        return new ClusterRuntime(name, spec, endpoints, new RoundRobinBalancer(start));
    }

    private static bool ValidateEndpoints(string key, ClusterEndpoints spec, List<string> errors)
    {
        var before = errors.Count;
        for (var i = 0; i < spec.Endpoints.Count; i++)
        {
            var e = spec.Endpoints[i];
            var path = key + ": endpoints[" + i.ToString(CultureInfo.InvariantCulture) + "]";
            if (string.IsNullOrWhiteSpace(e.Address))
                errors.Add(path + ".address: empty");
            else if (Uri.CheckHostName(e.Address) == UriHostNameType.Unknown)
                errors.Add(path + ".address: invalid host \"" + e.Address + "\"");
            if (e.Port is 0 or > 65535)
                errors.Add(path + ".port: " + e.Port.ToString(CultureInfo.InvariantCulture) + " is not a valid port");
        }
        return errors.Count == before;
    }

    private static RouteTableRuntime BuildRouteTable(string name, string key, RouteTable spec,
        Dictionary<string, ClusterRuntime> clusters, List<string> errors)
    {
        var routes = new RouteRuntime[spec.Routes.Count];
        for (var r = 0; r < routes.Length; r++)
        {
            var route = spec.Routes[r];
            var path = key + ": routes[" + r.ToString(CultureInfo.InvariantCulture) + "]";
            var matchers = new RouteMatcher[route.Matches.Count];
            for (var m = 0; m < matchers.Length; m++)
                matchers[m] = BuildMatcher(path + ".matches[" + m.ToString(CultureInfo.InvariantCulture) + "]", route.Matches[m], errors);

            var backends = new WeightedBackend[route.Backends.Count];
            for (var b = 0; b < backends.Length; b++)
            {
                var wc = route.Backends[b];
                if (string.IsNullOrEmpty(wc.Cluster))
                    errors.Add(path + ".backends[" + b.ToString(CultureInfo.InvariantCulture) + "].cluster: empty");
                if (wc.Weight > 1_000_000)
                    errors.Add(path + ".backends[" + b.ToString(CultureInfo.InvariantCulture) + "].weight: " +
                        wc.Weight.ToString(CultureInfo.InvariantCulture) + " exceeds 1000000");
                // A missing cluster is not an error: Gateway API answers 500 for a backend that is not found.
                backends[b] = new WeightedBackend(wc.Cluster, (int)Math.Min(wc.Weight, 1_000_000u),
                    clusters.GetValueOrDefault(wc.Cluster));
            }
            routes[r] = new RouteRuntime(route.Name, matchers, backends,
                BuildModifiers(path + ".request_header_modifiers", route.RequestHeaderModifiers, errors),
                BuildModifiers(path + ".response_header_modifiers", route.ResponseHeaderModifiers, errors));
        }
        return new RouteTableRuntime(name, routes);
    }

    private static RouteMatcher BuildMatcher(string path, RouteMatch match, List<string> errors)
    {
        var kind = PathMatchKind.Any;
        var value = "";
        Regex? regex = null;
        if (match.Path is { } p)
        {
            switch (p.Kind)
            {
                case PathMatch.Types.Kind.Prefix:
                    kind = PathMatchKind.Prefix;
                    if (!p.Value.StartsWith('/'))
                        errors.Add(path + ".path: prefix \"" + p.Value + "\" must start with '/'");
                    value = p.Value.TrimEnd('/');
                    break;
                case PathMatch.Types.Kind.Exact:
                    kind = PathMatchKind.Exact;
                    if (!p.Value.StartsWith('/'))
                        errors.Add(path + ".path: exact path \"" + p.Value + "\" must start with '/'");
                    value = p.Value;
                    break;
                case PathMatch.Types.Kind.Regex:
                    kind = PathMatchKind.Regex;
                    value = p.Value;
                    regex = CompileRegex(path + ".path", p.Value, errors);
                    break;
                default:
                    errors.Add(path + ".path.kind: unknown kind " + ((int)p.Kind).ToString(CultureInfo.InvariantCulture));
                    break;
            }
        }

        var headers = new ValueMatcher[match.Headers.Count];
        for (var i = 0; i < headers.Length; i++)
        {
            var h = match.Headers[i];
            var hp = path + ".headers[" + i.ToString(CultureInfo.InvariantCulture) + "]";
            if (!IsToken(h.Name))
                errors.Add(hp + ".name: invalid header name \"" + h.Name + "\"");
            headers[i] = h.Kind switch
            {
                HeaderMatch.Types.Kind.Exact => new ValueMatcher(h.Name, h.Value, null),
                HeaderMatch.Types.Kind.Regex => new ValueMatcher(h.Name, null, CompileRegex(hp + ".value", h.Value, errors)),
                _ => UnknownKind(hp, (int)h.Kind, h.Name, errors),
            };
        }

        var query = new ValueMatcher[match.QueryParams.Count];
        for (var i = 0; i < query.Length; i++)
        {
            var q = match.QueryParams[i];
            var qp = path + ".query_params[" + i.ToString(CultureInfo.InvariantCulture) + "]";
            if (string.IsNullOrEmpty(q.Name))
                errors.Add(qp + ".name: empty");
            query[i] = q.Kind switch
            {
                QueryMatch.Types.Kind.Exact => new ValueMatcher(q.Name, q.Value, null),
                QueryMatch.Types.Kind.Regex => new ValueMatcher(q.Name, null, CompileRegex(qp + ".value", q.Value, errors)),
                _ => UnknownKind(qp, (int)q.Kind, q.Name, errors),
            };
        }

        string? method = null;
        if (!string.IsNullOrEmpty(match.Method))
        {
            if (!IsToken(match.Method))
                errors.Add(path + ".method: invalid method \"" + match.Method + "\"");
            method = match.Method;
        }
        return new RouteMatcher(kind, value, regex, headers, query, method);
    }

    private static ValueMatcher UnknownKind(string path, int kind, string name, List<string> errors)
    {
        errors.Add(path + ".kind: unknown kind " + kind.ToString(CultureInfo.InvariantCulture));
        return new ValueMatcher(name, "", null);
    }

    private static Regex? CompileRegex(string path, string pattern, List<string> errors)
    {
        try
        {
            // Full match, as Gateway API and Envoy mean it.
            return new Regex(@"\A(?:" + pattern + @")\z", RouteRegexOptions);
        }
        catch (ArgumentException ex)
        {
            errors.Add(path + ": invalid regex \"" + pattern + "\": " + ex.Message);
            return null;
        }
        catch (NotSupportedException ex)
        {
            errors.Add(path + ": unsupported regex \"" + pattern + "\": " + ex.Message);
            return null;
        }
    }

    private static HeaderModifierRuntime[] BuildModifiers(string path, IList<HeaderModifier> specs, List<string> errors)
    {
        if (specs.Count == 0)
            return [];
        var result = new HeaderModifierRuntime[specs.Count];
        for (var i = 0; i < result.Length; i++)
        {
            var s = specs[i];
            var p = path + "[" + i.ToString(CultureInfo.InvariantCulture) + "]";
            if (!IsToken(s.Name))
                errors.Add(p + ".name: invalid header name \"" + s.Name + "\"");
            if (!Enum.IsDefined(s.Op))
                errors.Add(p + ".op: unknown op " + ((int)s.Op).ToString(CultureInfo.InvariantCulture));
            if (s.Value.AsSpan().IndexOfAny('\r', '\n', '\0') >= 0)
                errors.Add(p + ".value: contains a control character");
            result[i] = new HeaderModifierRuntime(s.Op, s.Name, s.Value);
        }
        return result;
    }

    private static ListenerRuntime? BuildListener(string key, Listener spec, Dictionary<string, RouteTableRuntime> tables,
        Dictionary<string, (string Key, Cluster Spec)> clusters, List<string> errors, List<string> warnings)
    {
        // Transparent interception: a capture listener picks its route table per connection, by the
        // connection's original destination (Interception/).
        if (spec.Capture || spec.OriginalDestinations.Count > 0)
            return Interception.CaptureTableBuilder.Build(key, spec, tables, clusters.Keys.ToHashSet(StringComparer.Ordinal), errors, warnings);

        var before = errors.Count;
        IPAddress? address = null;
        if (string.IsNullOrEmpty(spec.Address))
            address = IPAddress.Any;
        else if (string.Equals(spec.Address, "localhost", StringComparison.OrdinalIgnoreCase))
            address = IPAddress.Loopback;
        else if (!IPAddress.TryParse(spec.Address, out address))
            errors.Add(key + ": address: \"" + spec.Address + "\" is not an IP address");
        if (spec.Port is 0 or > 65535)
            errors.Add(key + ": port: " + spec.Port.ToString(CultureInfo.InvariantCulture) + " is not a valid port");
        if (!Enum.IsDefined(spec.Direction))
            errors.Add(key + ": direction: unknown direction " + ((int)spec.Direction).ToString(CultureInfo.InvariantCulture));
        if (!Enum.IsDefined(spec.Protocol))
            errors.Add(key + ": protocol: unknown protocol " + ((int)spec.Protocol).ToString(CultureInfo.InvariantCulture));

        var routes = RouteTableRuntime.Empty;
        var l4 = spec.Protocol is Protocol.Tcp or Protocol.Tls;
        if (spec.Protocol is Protocol.Tcp or Protocol.Auto)
        {
            if (string.IsNullOrEmpty(spec.TcpCluster))
                errors.Add(key + ": tcp_cluster: required for a " + (spec.Protocol == Protocol.Tcp ? "TCP" : "AUTO") + " listener");
            else if (!clusters.ContainsKey(spec.TcpCluster))
                warnings.Add(key + ": tcp_cluster: cluster \"" + spec.TcpCluster + "\" is not in the config; connections are closed");
        }
        if (spec.Protocol == Protocol.Tls && spec.SniRoutes.Count == 0)
            errors.Add(key + ": sni_routes: required for a TLS listener");
        var sni = BuildSniTable(key, spec, clusters, errors, warnings);
        if (spec.DetectTimeoutMs > MaxDetectTimeoutMs)
            errors.Add(key + ": detect_timeout_ms: " + spec.DetectTimeoutMs.ToString(CultureInfo.InvariantCulture) + " exceeds " +
                MaxDetectTimeoutMs.ToString(CultureInfo.InvariantCulture));

        if (l4)
        {
            // Opaque bytes: no route table.
        }
        else if (string.IsNullOrEmpty(spec.RouteTable))
        {
            errors.Add(key + ": route_table: required for an HTTP listener");
        }
        else if (!tables.TryGetValue(spec.RouteTable, out routes!))
        {
            // Not fatal: the listener answers 404 no_route until the table arrives.
            warnings.Add(key + ": route_table: \"" + spec.RouteTable + "\" is not in the config; every request gets 404");
            routes = new RouteTableRuntime(spec.RouteTable, []);
        }

        var authorization = Security.Authorization.AuthorizationTable.Build(key, spec, errors);
        if (errors.Count != before)
            return null;
        return new ListenerRuntime(key, address!, (int)spec.Port, spec.Direction, spec.Protocol, routes, spec.TcpCluster, spec.Service)
        {
            Authorization = authorization,
            SniRoutes = sni,
            DetectTimeout = spec.DetectTimeoutMs == 0 ? ListenerRuntime.DefaultDetectTimeout : TimeSpan.FromMilliseconds(spec.DetectTimeoutMs),
            MtlsStrict = spec.MtlsMode == MtlsMode.MtlsStrict,
        };
    }

    private const uint MaxDetectTimeoutMs = 60_000;

    /// <summary>Server names: DNS names, or "*." and a DNS name; each at most once per listener.</summary>
    private static Tls.SniTable BuildSniTable(string key, Listener spec, Dictionary<string, (string Key, Cluster Spec)> clusters,
        List<string> errors, List<string> warnings)
    {
        if (spec.SniRoutes.Count == 0)
            return Tls.SniTable.Empty;
        var exact = new Dictionary<string, string>(StringComparer.Ordinal);
        var wildcards = new List<(string Suffix, string Cluster)>();
        for (var r = 0; r < spec.SniRoutes.Count; r++)
        {
            var route = spec.SniRoutes[r];
            var path = key + ": sni_routes[" + r.ToString(CultureInfo.InvariantCulture) + "]";
            if (string.IsNullOrEmpty(route.Cluster))
                errors.Add(path + ".cluster: empty");
            else if (!clusters.ContainsKey(route.Cluster))
                warnings.Add(path + ".cluster: cluster \"" + route.Cluster + "\" is not in the config; its connections are closed");
            if (route.ServerNames.Count == 0)
                errors.Add(path + ".server_names: empty");
            for (var n = 0; n < route.ServerNames.Count; n++)
            {
                var name = route.ServerNames[n].ToLowerInvariant().TrimEnd('.');
                var namePath = path + ".server_names[" + n.ToString(CultureInfo.InvariantCulture) + "]";
                var wildcard = name.StartsWith("*.", StringComparison.Ordinal);
                var host = wildcard ? name[2..] : name;
                if (host.Length == 0 || host.Length > 253 || Uri.CheckHostName(host) != UriHostNameType.Dns || host.Contains('*', StringComparison.Ordinal))
                {
                    errors.Add(namePath + ": \"" + route.ServerNames[n] + "\" is not a host name or *.host name");
                    continue;
                }
                var taken = wildcard ? wildcards.Exists(w => w.Suffix == name[1..]) : exact.ContainsKey(name);
                if (taken)
                {
                    errors.Add(namePath + ": \"" + route.ServerNames[n] + "\" is already routed");
                    continue;
                }
                if (wildcard)
                    wildcards.Add((name[1..], route.Cluster));
                else
                    exact[name] = route.Cluster;
            }
        }
        wildcards.Sort(static (a, b) => b.Suffix.Length.CompareTo(a.Suffix.Length));
        return new Tls.SniTable(exact.ToFrozenDictionary(StringComparer.Ordinal), wildcards.ToArray());
    }

    private static bool IsToken(string value)
    {
        if (string.IsNullOrEmpty(value))
            return false;
        foreach (var c in value)
        {
            if (c <= ' ' || c >= 0x7f || "\"(),/:;<=>?@[\\]{}".Contains(c, StringComparison.Ordinal))
                return false;
        }
        return true;
    }
}
