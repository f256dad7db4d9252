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
            """);
        Assert.Equal(new MeshConfigSpec(
            "weft.example",
            new MtlsSettings(MtlsMode.Strict, Yaml.List(new MtlsOverride("legacy", "default", MtlsMode.Permissive))),
            new CertificateSettings(TimeSpan.FromMinutes(90)),
            new TracingSettings(12.5, "http://127.0.0.1:4318"),
            new AccessLogSettings(AccessLogFormat.Json)), mesh.Spec);
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
