using System.Text.Json.Serialization;

namespace Weft.Model.Resources;

/// <summary>`weft.dev/v1` MeshConfig: mesh-wide settings. At most one exists, named "default".</summary>
public sealed record MeshConfigResource(ObjectMeta Metadata, MeshConfigSpec Spec)
    : Resource(ApiVersions.Weft, ResourceKinds.MeshConfig, Metadata)
{
    public const string RequiredName = "default";
}

/// <summary>Every member is set: the parser fills the defaults, so consumers never guess them.</summary>
public sealed record MeshConfigSpec(string TrustDomain, MtlsSettings Mtls, CertificateSettings Certificates, TracingSettings Tracing, AccessLogSettings AccessLog)
{
    public const string DefaultTrustDomain = "cluster.local";

    /// <summary>The settings when no MeshConfig is applied.</summary>
    public static readonly MeshConfigSpec Default = new(
        DefaultTrustDomain, MtlsSettings.Default, CertificateSettings.Default, TracingSettings.Default, AccessLogSettings.Default);
}

/// <param name="Mode">PERMISSIVE by default (as Istio and Kuma): plaintext is still accepted, so a mesh can be adopted gradually.</param>
/// <param name="Overrides">Per-service modes that take precedence over <paramref name="Mode"/>.</param>
public sealed record MtlsSettings(MtlsMode Mode, EquatableList<MtlsOverride> Overrides)
{
    public static readonly MtlsSettings Default = new(MtlsMode.Permissive, EquatableList<MtlsOverride>.Empty);
}

/// <summary>The mTLS mode of one Service (in its namespace).</summary>
public sealed record MtlsOverride(string Service, string Namespace, MtlsMode Mode);

[JsonConverter(typeof(JsonStringEnumConverter<MtlsMode>))]
public enum MtlsMode
{
    [JsonStringEnumMemberName("STRICT")] Strict,
    [JsonStringEnumMemberName("PERMISSIVE")] Permissive,
}

/// <param name="WorkloadTtl">Lifetime of workload certificates; 24h by default, as Istio.</param>
public sealed record CertificateSettings(TimeSpan WorkloadTtl)
{
    public static readonly CertificateSettings Default = new(TimeSpan.FromHours(24));
}

/// <param name="SamplingPercent">0-100; 1 by default, as Istio. Spans are exported only when <paramref name="OtlpEndpoint"/> is set.</param>
/// <param name="OtlpEndpoint">OTLP/HTTP base URL (e.g. http://127.0.0.1:4318); null turns tracing export off.</param>
public sealed record TracingSettings(double SamplingPercent, string? OtlpEndpoint)
{
    public static readonly TracingSettings Default = new(1.0, null);
}

public sealed record AccessLogSettings(AccessLogFormat Format)
{
    public static readonly AccessLogSettings Default = new(AccessLogFormat.Json);
}

/// <summary>JSON lines only today; the enum leaves room for a text format.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<AccessLogFormat>))]
public enum AccessLogFormat { [JsonStringEnumMemberName("json")] Json }
