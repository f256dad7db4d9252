using Weft.Model.Resources;

namespace Weft.Model.Parsing.Binding;

/// <summary>Binds and validates a MeshConfig spec, filling every default.</summary>
internal static class MeshConfigBinder
{
    private static readonly TimeSpan MinWorkloadTtl = TimeSpan.FromMinutes(1);

    /// <summary>The CA's ceiling (Istio's default maximum): a longer TTL would make every renewal fail.</summary>
    public static readonly TimeSpan MaxWorkloadTtl = TimeSpan.FromDays(90);

    // The discovery resource carries proxy durations as uint32 milliseconds.
    private static readonly TimeSpan MaxProxyDuration = TimeSpan.FromMilliseconds(uint.MaxValue);

    private static readonly string[] ProxyFields =
    [
        "maxConnectionsPerListener", "maxConnections", "requestHeadersTimeout", "requestTimeout", "httpIdleTimeout",
        "tcpIdleTimeout", "minBodyDataRate", "maxUpstreamConnectionsPerEndpoint", "maxPendingRequestsPerEndpoint", "upstreamIdleTimeout",
        "ambiguousPaths",
    ];

    public static MeshConfigSpec Bind(ObjectReader spec, ObjectMeta meta)
    {
        var trustDomain = spec.String("trustDomain") ?? MeshConfigSpec.DefaultTrustDomain;
        // A trust domain is the host part of a SPIFFE ID: a DNS-style name.
        if (KubernetesNames.Dns1123Subdomain(trustDomain) is { } e) spec.Error("trustDomain", $"invalid trust domain \"{trustDomain}\": {e}");

        var mtls = spec.Object("mtls", ["mode", "overrides"], m =>
        {
            var seen = new UniqueKeys("override for service");
            var overrides = m.List("overrides", item =>
            {
                var o = item.AsObject("service", "namespace", "mode");
                if (o is null) return null;
                var service = o.RequiredString("service");
                if (service.Length > 0 && KubernetesNames.Dns1035Label(service) is { } se) o.Error("service", $"invalid Service name \"{service}\": {se}");
                var ns = o.String("namespace") ?? meta.Namespace;
                if (KubernetesNames.Dns1123Label(ns) is { } ne) o.Error("namespace", $"invalid namespace \"{ns}\": {ne}");
                var mode = o.RequiredEnum<MtlsMode>("mode");
                seen.Check(item, $"{ns}/{service}");
                return new MtlsOverride(service, ns, mode);
            });
            return new MtlsSettings(m.Enum("mode", MtlsMode.Permissive), overrides);
        }) ?? MtlsSettings.Default;

        var certificates = spec.Object("certificates", ["workloadTtl"], c =>
        {
            var ttl = c.Duration("workloadTtl") ?? CertificateSettings.Default.WorkloadTtl;
            if (ttl < MinWorkloadTtl) c.Error("workloadTtl", "must be at least 1m");
            else if (ttl > MaxWorkloadTtl) c.Error("workloadTtl", "must be at most 90 days (2160h)");
            return new CertificateSettings(ttl);
        }) ?? CertificateSettings.Default;

        var tracing = spec.Object("tracing", ["samplingPercent", "otlpEndpoint"], t =>
        {
            var endpoint = t.String("otlpEndpoint");
            if (endpoint is not null && !(Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"))
                t.Error("otlpEndpoint", $"invalid endpoint \"{endpoint}\": expected an http:// or https:// URL");
            return new TracingSettings(t.Number("samplingPercent", 0, 100, TracingSettings.Default.SamplingPercent), endpoint);
        }) ?? TracingSettings.Default;

        var accessLog = spec.Object("accessLog", ["format"], a => new AccessLogSettings(a.Enum("format", AccessLogFormat.Json)))
            ?? AccessLogSettings.Default;

        var proxy = spec.Object("proxy", ProxyFields, BindProxy) ?? ProxySettings.Default;

        return new MeshConfigSpec(trustDomain, mtls, certificates, tracing, accessLog, proxy);
    }

    /// <summary>Nothing is defaulted here: an absent field stays null and the proxy's default applies.</summary>
    private static ProxySettings BindProxy(ObjectReader p) => new(
        p.Int("maxConnectionsPerListener", 1, int.MaxValue),
        p.Int("maxConnections", 1, int.MaxValue),
        ProxyDuration(p, "requestHeadersTimeout", zeroAllowed: false),
        ProxyDuration(p, "requestTimeout", zeroAllowed: true),
        ProxyDuration(p, "httpIdleTimeout", zeroAllowed: false),
        ProxyDuration(p, "tcpIdleTimeout", zeroAllowed: true),
        p.Object("minBodyDataRate", ["bytesPerSecond", "grace"], r =>
            new MinBodyDataRate(r.Int("bytesPerSecond", 0, int.MaxValue), ProxyDuration(r, "grace", zeroAllowed: true))),
        p.Int("maxUpstreamConnectionsPerEndpoint", 1, int.MaxValue),
        p.Int("maxPendingRequestsPerEndpoint", 1, int.MaxValue),
        ProxyDuration(p, "upstreamIdleTimeout", zeroAllowed: false),
        p.OptionalEnum<AmbiguousPathAction>("ambiguousPaths"));

    private static TimeSpan? ProxyDuration(ObjectReader o, string name, bool zeroAllowed)
    {
        var d = o.Duration(name);
        if (d == TimeSpan.Zero && !zeroAllowed) o.Error(name, "must be greater than 0s (this timeout cannot be turned off)");
        else if (d > MaxProxyDuration) o.Error(name, $"must be at most {GatewayDuration.Format(MaxProxyDuration)}, got {GatewayDuration.Format(d.Value)}");
        return d;
    }
}
