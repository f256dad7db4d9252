using System.Text.Json.Serialization;

namespace Weft.Model.Resources;

/// <summary>`weft.dev/v1` MeshConfig: mesh-wide settings. At most one exists, named "default".</summary>
public sealed record MeshConfigResource(ObjectMeta Metadata, MeshConfigSpec Spec)
    : Resource(ApiVersions.Weft, ResourceKinds.MeshConfig, Metadata)
{
    public const string RequiredName = "default";
}

/// <summary>
/// Every member is set: the parser fills the defaults, so consumers never guess them. The one
/// exception is inside <see cref="Proxy"/>, whose defaults belong to the proxy (see there).
/// </summary>
public sealed record MeshConfigSpec(string TrustDomain, MtlsSettings Mtls, CertificateSettings Certificates, TracingSettings Tracing, AccessLogSettings AccessLog, ProxySettings Proxy)
{
    public const string DefaultTrustDomain = "cluster.local";

    /// <summary>The settings when no MeshConfig is applied.</summary>
    public static readonly MeshConfigSpec Default = new(
        DefaultTrustDomain, MtlsSettings.Default, CertificateSettings.Default, TracingSettings.Default, AccessLogSettings.Default, ProxySettings.Default);
}

/// <param name="Mode">PERMISSIVE by default (as Istio and Kuma): plaintext is still accepted, so a mesh can be adopted gradually.</param>
/// <param name="Overrides">Per-service modes that take precedence over <paramref name="Mode"/>.</param>
public sealed record MtlsSettings(MtlsMode Mode, EquatableList<MtlsOverride> Overrides)
{
    public static readonly MtlsSettings Default = new(MtlsMode.Permissive, EquatableList<MtlsOverride>.Empty);
}

/// <summary>The mTLS mode of one Service (in its namespace).</summary>
public sealed record MtlsOverride(string Service, string Namespace, MtlsMode Mode);

/// <summary>
/// STRICT: a service's inbound port takes sidecars' mTLS only. PERMISSIVE: plaintext too, as
/// unauthenticated. DISABLE: its clients speak plaintext to it (no mTLS, no caller identity), as
/// Istio's DISABLE; its inbound port takes both, like PERMISSIVE.
/// </summary>
[JsonConverter(typeof(JsonStringEnumConverter<MtlsMode>))]
public enum MtlsMode
{
    [JsonStringEnumMemberName("STRICT")] Strict,
    [JsonStringEnumMemberName("PERMISSIVE")] Permissive,
    [JsonStringEnumMemberName("DISABLE")] Disable,
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

/// <summary>
/// `spec.proxy`: data-plane limits and path handling for every proxy (docs/config.md; their behaviour
/// in docs/proxy.md, "Limits"). A null member means "not set": the proxy applies its own default and
/// the discovery resource leaves the field unset, so a default changes with the proxy, not with the
/// stored config. Durations fit the wire's uint32 milliseconds.
/// </summary>
/// <param name="RequestTimeout">Zero means no timeout.</param>
/// <param name="TcpIdleTimeout">Zero means no timeout.</param>
public sealed record ProxySettings(
    int? MaxConnectionsPerListener,
    int? MaxConnections,
    TimeSpan? RequestHeadersTimeout,
    TimeSpan? RequestTimeout,
    TimeSpan? HttpIdleTimeout,
    TimeSpan? TcpIdleTimeout,
    MinBodyDataRate? MinBodyDataRate,
    int? MaxUpstreamConnectionsPerEndpoint,
    int? MaxPendingRequestsPerEndpoint,
    TimeSpan? UpstreamIdleTimeout,
    AmbiguousPathAction? AmbiguousPaths)
{
    /// <summary>Nothing set: every proxy default applies.</summary>
    public static readonly ProxySettings Default = new(null, null, null, null, null, null, null, null, null, null, null);
}

/// <param name="BytesPerSecond">Zero means no minimum rate.</param>
/// <param name="Grace">How long a body may stay below the rate before it applies.</param>
public sealed record MinBodyDataRate(int? BytesPerSecond, TimeSpan? Grace);

/// <summary>What a proxy does with a path holding %2F, %5C, '\' or dot segments with parameters.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<AmbiguousPathAction>))]
public enum AmbiguousPathAction
{
    /// <summary>Answer 400.</summary>
    Reject,
    /// <summary>Match and forward the path as sent.</summary>
    Keep,
}
