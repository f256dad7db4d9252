using Weft.Model.Resources;
using Weft.Model.Tests.Parsing;

namespace Weft.Model.Tests.Resources;

public class MeshConfigResourceTests
{
    [Fact]
    public void Parses_every_setting()
    {
        var mesh = Yaml.Single<MeshConfigResource>("""
            apiVersion: weft.dev/v1
            kind: MeshConfig
            metadata: { name: default }
            spec:
              trustDomain: weft.example
              mtls:
                mode: STRICT
                overrides: [{ service: legacy, mode: PERMISSIVE }]
              certificates: { workloadTtl: 1h30m }
              tracing: { samplingPercent: 12.5, otlpEndpoint: "http://127.0.0.1:4318" }
              accessLog: { format: json }
              proxy:
                maxConnectionsPerListener: 10000
                maxConnections: 50000
                requestHeadersTimeout: 30s
                requestTimeout: 0s
                httpIdleTimeout: 2m
                tcpIdleTimeout: 1h
                minBodyDataRate: { bytesPerSecond: 240, grace: 5s }
                maxUpstreamConnectionsPerEndpoint: 1024
                maxPendingRequestsPerEndpoint: 512
                upstreamIdleTimeout: 1m30s
                ambiguousPaths: Keep
            """);
        Assert.Equal(new MeshConfigSpec(
            "weft.example",
            new MtlsSettings(MtlsMode.Strict, Yaml.List(new MtlsOverride("legacy", "default", MtlsMode.Permissive))),
            new CertificateSettings(TimeSpan.FromMinutes(90)),
            new TracingSettings(12.5, "http://127.0.0.1:4318"),
            new AccessLogSettings(AccessLogFormat.Json),
            new ProxySettings(10000, 50000, TimeSpan.FromSeconds(30), TimeSpan.Zero, TimeSpan.FromMinutes(2), TimeSpan.FromHours(1),
                new MinBodyDataRate(240, TimeSpan.FromSeconds(5)), 1024, 512, TimeSpan.FromSeconds(90), AmbiguousPathAction.Keep)), mesh.Spec);
    }

    [Fact]
    public void Defaults_everything_when_spec_is_omitted()
    {
        var mesh = Yaml.Single<MeshConfigResource>("""
            apiVersion: weft.dev/v1
            kind: MeshConfig
            metadata: { name: default }
            """);
        Assert.Equal(MeshConfigSpec.Default, mesh.Spec);
        Assert.Equal("cluster.local", mesh.Spec.TrustDomain);
        Assert.Equal(MtlsMode.Permissive, mesh.Spec.Mtls.Mode);
        Assert.Equal(ProxySettings.Default, mesh.Spec.Proxy);
    }

    [Fact]
    public void Validates_name_ranges_and_modes()
    {
        var errors = Yaml.Errors("""
            apiVersion: weft.dev/v1
            kind: MeshConfig
            metadata: { name: mine }
            spec:
              mtls: { mode: strict }
              certificates: { workloadTtl: 10s }
              tracing: { samplingPercent: 150, otlpEndpoint: "localhost:4318" }
              accessLog: { format: text }
            """);
        Assert.Contains("named \"default\"", errors.At("metadata.name").Message);
        Assert.Contains("did you mean \"STRICT\"", errors.At("spec.mtls.mode").Message);
        errors.At("spec.certificates.workloadTtl");
        Assert.Equal(7, errors.At("spec.tracing.samplingPercent").Line);
        errors.At("spec.tracing.otlpEndpoint");
        errors.At("spec.accessLog.format");
        Assert.Equal(6, errors.Count);
    }

    [Theory]
    [InlineData("10s", "at least 1m")]
    [InlineData("2161h", "at most 90 days")]
    public void A_workload_ttl_outside_what_the_ca_issues_is_refused(string ttl, string message)
    {
        var e = Yaml.Error($"apiVersion: weft.dev/v1\nkind: MeshConfig\nmetadata: {{ name: default }}\nspec:\n  certificates: {{ workloadTtl: {ttl} }}\n");
        Assert.Equal("spec.certificates.workloadTtl", e.Path);
        Assert.Contains(message, e.Message);
    }
}

/// <summary>spec.proxy: unlike the rest of the spec, an absent field stays unset (the proxy's default applies).</summary>
public class MeshConfigProxyTests
{
    private static MeshConfigResource Parse(string proxyBlock) => Yaml.Single<MeshConfigResource>(
        "apiVersion: weft.dev/v1\nkind: MeshConfig\nmetadata: { name: default }\nspec:\n  proxy:\n" + proxyBlock);

    private static IReadOnlyList<Weft.Model.Parsing.ValidationError> Errors(string proxyBlock) => Yaml.Errors(
        "apiVersion: weft.dev/v1\nkind: MeshConfig\nmetadata: { name: default }\nspec:\n  proxy:\n" + proxyBlock);

    [Fact]
    public void Omitted_fields_stay_unset()
    {
        var proxy = Parse("    requestTimeout: 20s\n    minBodyDataRate: { bytesPerSecond: 0 }\n").Spec.Proxy;
        Assert.Equal(ProxySettings.Default with
        {
            RequestTimeout = TimeSpan.FromSeconds(20),
            MinBodyDataRate = new MinBodyDataRate(0, null),
        }, proxy);
    }

    [Fact]
    public void An_empty_or_null_block_sets_nothing()
    {
        Assert.Equal(ProxySettings.Default, Parse("    {}\n").Spec.Proxy);
        Assert.Equal(ProxySettings.Default, Yaml.Single<MeshConfigResource>(
            "apiVersion: weft.dev/v1\nkind: MeshConfig\nmetadata: { name: default }\nspec:\n  proxy:\n").Spec.Proxy);
    }

    [Fact]
    public void Zero_turns_off_only_the_limits_that_allow_it()
    {
        var proxy = Parse("    requestTimeout: 0s\n    tcpIdleTimeout: 0ms\n    minBodyDataRate: { bytesPerSecond: 0, grace: 0s }\n").Spec.Proxy;
        Assert.Equal(TimeSpan.Zero, proxy.RequestTimeout);
        Assert.Equal(TimeSpan.Zero, proxy.TcpIdleTimeout);
        Assert.Equal(new MinBodyDataRate(0, TimeSpan.Zero), proxy.MinBodyDataRate);

        var errors = Errors("    requestHeadersTimeout: 0s\n    httpIdleTimeout: 0ms\n    upstreamIdleTimeout: 0s\n");
        Assert.Equal("must be greater than 0s (this timeout cannot be turned off)", errors.At("spec.proxy.requestHeadersTimeout").Message);
        errors.At("spec.proxy.httpIdleTimeout");
        errors.At("spec.proxy.upstreamIdleTimeout");
        Assert.Equal(3, errors.Count);
    }

    [Fact]
    public void Durations_fit_uint32_milliseconds()
    {
        // 4294967295 ms is 1193h2m47s295ms: the longest duration the discovery resource can carry.
        Assert.Equal(TimeSpan.FromMilliseconds(uint.MaxValue), Parse("    tcpIdleTimeout: 1193h2m47s295ms\n").Spec.Proxy.TcpIdleTimeout);
        var e = Yaml.Error("apiVersion: weft.dev/v1\nkind: MeshConfig\nmetadata: { name: default }\nspec:\n  proxy:\n    tcpIdleTimeout: 1193h2m47s296ms\n");
        Assert.Equal(("spec.proxy.tcpIdleTimeout", 6, 21), (e.Path, e.Line, e.Column));
        Assert.Equal("must be at most 1193h2m47s295ms, got 1193h2m47s296ms", e.Message);
    }

    [Fact]
    public void Every_error_is_reported_with_its_path_and_line()
    {
        var errors = Errors("""
                maxConnectionsPerListener: 0
                maxConnections: -5
                requestHeadersTimeout: -1s
                requestTimeout: 15
                httpIdleTimeout: 2 minutes
                tcpIdleTimeout: 99999h
                minBodyDataRate: { bytesPerSecond: -1, grace: 5sec, burst: 3 }
                maxUpstreamConnectionsPerEndpoint: 4294967296
                maxPendingRequestsPerEndpoint: 0
                upstreamIdleTimout: 90s
                ambiguousPaths: reject

            """);
        Assert.Equal((6, 32, "must be between 1 and 2147483647, got 0"),
            (errors.At("spec.proxy.maxConnectionsPerListener").Line, errors.At("spec.proxy.maxConnectionsPerListener").Column, errors.At("spec.proxy.maxConnectionsPerListener").Message));
        Assert.Equal("must be between 1 and 2147483647, got -5", errors.At("spec.proxy.maxConnections").Message);
        Assert.StartsWith("invalid duration \"-1s\"", errors.At("spec.proxy.requestHeadersTimeout").Message);
        Assert.Equal("expected string, got integer", errors.At("spec.proxy.requestTimeout").Message);
        Assert.StartsWith("invalid duration \"2 minutes\"", errors.At("spec.proxy.httpIdleTimeout").Message);
        Assert.StartsWith("must be at most 1193h2m47s295ms", errors.At("spec.proxy.tcpIdleTimeout").Message);
        Assert.Equal("must be between 0 and 2147483647, got -1", errors.At("spec.proxy.minBodyDataRate.bytesPerSecond").Message);
        Assert.StartsWith("invalid duration \"5sec\"", errors.At("spec.proxy.minBodyDataRate.grace").Message);
        Assert.Equal("unknown field", errors.At("spec.proxy.minBodyDataRate.burst").Message);
        Assert.Equal("must be between 1 and 2147483647, got 4294967296", errors.At("spec.proxy.maxUpstreamConnectionsPerEndpoint").Message);
        Assert.Equal("must be between 1 and 2147483647, got 0", errors.At("spec.proxy.maxPendingRequestsPerEndpoint").Message);
        var typo = errors.At("spec.proxy.upstreamIdleTimout");
        Assert.Equal((15, 5, "unknown field; did you mean \"upstreamIdleTimeout\"?"), (typo.Line, typo.Column, typo.Message));
        Assert.Contains("did you mean \"Reject\"?; expected one of Reject, Keep", errors.At("spec.proxy.ambiguousPaths").Message);
        Assert.Equal(13, errors.Count);
    }

    [Fact]
    public void Proxy_must_be_an_object_and_is_a_known_spec_field()
    {
        Assert.Equal("expected object, got string", Yaml.Error(
            "apiVersion: weft.dev/v1\nkind: MeshConfig\nmetadata: { name: default }\nspec: { proxy: fast }\n").Message);
        var e = Yaml.Error("apiVersion: weft.dev/v1\nkind: MeshConfig\nmetadata: { name: default }\nspec: { proxyy: {} }\n");
        Assert.Equal(("spec.proxyy", "unknown field; did you mean \"proxy\"?"), (e.Path, e.Message));
    }
}

public class MeshConfigScopeTests
{
    [Fact]
    public void MeshConfig_lives_in_the_default_namespace_only()
    {
        var e = Yaml.Error("""
            apiVersion: weft.dev/v1
            kind: MeshConfig
            metadata: { name: default, namespace: team-a }
            """);
        Assert.Equal(("metadata.namespace", 3), (e.Path, e.Line));
        Assert.Contains("mesh-wide", e.Message);
    }
}
