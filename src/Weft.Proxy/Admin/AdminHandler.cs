using System.Buffers;
using System.Text;
using System.Text.Json;
using Google.Protobuf;
using Microsoft.AspNetCore.Http;
using Weft.Proxy.Config;
using Weft.Proxy.Codecs.Kestrel;
using Weft.Proxy.Security;
using Weft.Proxy.Telemetry;

namespace Weft.Proxy.Admin;

/// <summary>
/// The admin endpoint: /ready, /stats/prometheus, /config_dump, /clusters, /certs. Everything here is a cold
/// path read of the same runtime and counters the request path writes.
/// </summary>
internal sealed class AdminHandler(RuntimeState state, ProxyMetrics metrics, CertificateHolder certificates) : IRequestHandler
{
    public Task HandleAsync(HttpContext context)
    {
        var path = context.Request.Path.Value ?? "/";
        // What reveals config or identity answers on loopback only, whatever address the admin port binds.
        if (path is "/config_dump" or "/certs" && context.Connection.RemoteIpAddress is { } remote && !System.Net.IPAddress.IsLoopback(remote))
            return WriteAsync(context, 403, "text/plain; charset=utf-8", $"{path} answers on loopback only\n");
        return path switch
        {
            "/ready" => ReadyAsync(context),
            "/stats/prometheus" => WriteAsync(context, 200, PrometheusText.ContentType, PrometheusText.Write(metrics, certificates.Current)),
            "/config_dump" => WriteAsync(context, 200, "application/json", ConfigDump(state.Current.Resources)),
            "/clusters" => WriteAsync(context, 200, "application/json", Clusters(state.Current)),
            "/certs" => WriteAsync(context, 200, "application/json", Certs(certificates.Current)),
            _ => WriteAsync(context, 404, "text/plain; charset=utf-8",
                "unknown admin path; try /ready, /stats/prometheus, /config_dump, /clusters, /certs\n"),
        };
    }

    /// <summary>The workload certificate and the trust bundle, public parts only: what `weft status` and operators read.</summary>
    internal static string Certs(WorkloadCertificate? current)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            if (current is null)
            {
                json.WriteNull("certificate");
            }
            else
            {
                json.WriteStartObject("certificate");
                json.WriteString("spiffeId", current.SpiffeId);
                json.WriteString("serialNumber", current.Leaf.SerialNumber);
                json.WriteString("notBefore", current.NotBefore);
                json.WriteString("notAfter", current.NotAfter);
                json.WriteString("issuer", current.Leaf.Issuer);
                json.WriteString("sha256", current.Leaf.GetCertHashString(System.Security.Cryptography.HashAlgorithmName.SHA256));
                json.WriteString("issuerRootSha256", current.IssuerRootSha256);
                json.WriteEndObject();
                json.WriteStartArray("trustBundle");
                foreach (var root in current.TrustBundle)
                {
                    json.WriteStartObject();
                    json.WriteString("subject", root.Subject);
                    json.WriteString("notAfter", new DateTimeOffset(root.NotAfter.ToUniversalTime()));
                    json.WriteString("sha256", root.GetCertHashString(System.Security.Cryptography.HashAlgorithmName.SHA256));
                    json.WriteEndObject();
                }
                json.WriteEndArray();
            }
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.WrittenSpan) + "\n";
    }

    private Task ReadyAsync(HttpContext context)
    {
        if (state.IsDraining)
            return WriteAsync(context, 503, "text/plain; charset=utf-8", "draining\n");
        if (!state.HasConfig)
            return WriteAsync(context, 503, "text/plain; charset=utf-8", "waiting for the first config\n");
        // Without its certificate a sidecar can neither call over mTLS nor be called: not ready yet.
        return certificates.Current is null
            ? WriteAsync(context, 503, "text/plain; charset=utf-8", "waiting for the workload certificate\n")
            : WriteAsync(context, 200, "text/plain; charset=utf-8", "ready\n");
    }

    private static Task WriteAsync(HttpContext context, int status, string contentType, string body)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = contentType;
        return context.Response.WriteAsync(body, context.RequestAborted);
    }

    internal static string ConfigDump(ProxyResources resources)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteNumber("revision", resources.ConfigRevision);
            json.WriteString("version", resources.VersionInfo);
            json.WriteStartObject("resources");
            foreach (var (key, resource) in resources.Items.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                json.WritePropertyName(key);
                json.WriteRawValue(JsonFormatter.Default.Format(resource));
            }
            json.WriteEndObject();
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    internal static string Clusters(ProxyRuntime runtime)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteStartArray("clusters");
            foreach (var (name, cluster) in runtime.Clusters.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                json.WriteStartObject();
                json.WriteString("name", name);
                json.WriteString("service", cluster.Service);
                json.WriteString("namespace", cluster.Namespace);
                json.WriteString("protocol", cluster.Protocol.ToString().ToLowerInvariant());
                json.WriteString("lb_policy", "round_robin");
                json.WriteStartArray("endpoints");
                foreach (var e in cluster.Endpoints)
                {
                    json.WriteStartObject();
                    json.WriteString("address", e.Address);
                    json.WriteNumber("port", e.Port);
                    json.WriteString("instance_id", e.InstanceId);
                    json.WriteString("service", e.Service);
                    json.WriteString("version", e.Version);
                    json.WriteNumber("requests", e.Stats.Requests);
                    json.WriteNumber("failures", e.Stats.Failures);
                    if (e.Stats.LastError is { } error)
                        json.WriteString("last_error", error);
                    else
                        json.WriteNull("last_error");
                    json.WriteEndObject();
                }
                json.WriteEndArray();
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }
}
