using System.Text.Json.Serialization;

namespace Weft.Model.Resources;

/// <summary>`weft.dev/v1` Service: a named set of workloads (selected by labels) and the ports clients dial.</summary>
public sealed record ServiceResource(ObjectMeta Metadata, ServiceSpec Spec)
    : Resource(ApiVersions.Weft, ResourceKinds.Service, Metadata);

/// <param name="Selector">
/// Workload labels this Service selects. When omitted it defaults to <c>{app: metadata.name}</c>: every
/// workload carries <c>app: service</c> (topology file), so the plain case needs no selector, and
/// <c>catalog-v2</c> with <c>{app: catalog, version: v2}</c> stays possible.
/// </param>
public sealed record ServiceSpec(EquatableList<ServicePort> Ports, EquatableMap Selector);

/// <param name="Protocol">
/// What the port speaks; null when the port does not say, and then proxies detect it per connection
/// from the client's first bytes (HTTP/1, HTTP/2, TLS), falling back to opaque TCP after a short window.
/// Declaring it avoids that window for server-first protocols (SMTP, MySQL).
/// </param>
/// <param name="TargetPort">The workload's port when it differs from <paramref name="Port"/>; null means the same.</param>
public sealed record ServicePort(string? Name, int Port, AppProtocol? Protocol, int? TargetPort);

/// <summary>What a port speaks. Decides HTTP-aware routing (http, http2, grpc) versus TCP proxying.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<AppProtocol>))]
public enum AppProtocol
{
    [JsonStringEnumMemberName("http")] Http,
    [JsonStringEnumMemberName("http2")] Http2,
    [JsonStringEnumMemberName("grpc")] Grpc,
    [JsonStringEnumMemberName("tcp")] Tcp,
    [JsonStringEnumMemberName("tls")] Tls,
}
