using System.Globalization;
using System.Text;

namespace Weft.Proxy.Telemetry;

/// <summary>Prometheus text exposition format 0.0.4, written by hand (scrapes are rare: cold path).</summary>
internal static class PrometheusText
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    public static string Write(ProxyMetrics metrics)
    {
        var sb = new StringBuilder(4096);
        sb.Append("# HELP weft_requests_total Requests handled by this proxy. A gateway counts its requests as outbound.\n");
        sb.Append("# TYPE weft_requests_total counter\n");
        foreach (var (l, counter) in metrics.Requests.OrderBy(kv => kv.Key.ToString(), StringComparer.Ordinal))
        {
            sb.Append("weft_requests_total{");
            Label(sb, "direction", l.Direction, first: true);
            Label(sb, "source_service", l.SourceService);
            Label(sb, "source_version", l.SourceVersion);
            Label(sb, "destination_service", l.DestinationService);
            Label(sb, "destination_version", l.DestinationVersion);
            Label(sb, "response_code", l.ResponseCode);
            Label(sb, "grpc_status", l.GrpcStatus);
            Label(sb, "protocol", l.Protocol);
            Label(sb, "mtls", l.Mtls);
            sb.Append("} ").Append(counter.Value.ToString(CultureInfo.InvariantCulture)).Append('\n');
        }
        PerListener(sb, "weft_tcp_connections_opened_total", "Downstream connections accepted, per listener port.", metrics.TcpOpened);
        PerListener(sb, "weft_tcp_connections_closed_total", "Downstream connections closed, per listener port.", metrics.TcpClosed);
        sb.Append("# HELP weft_config_revision The config store revision of the config this proxy serves.\n");
        sb.Append("# TYPE weft_config_revision gauge\n");
        sb.Append("weft_config_revision ").Append(metrics.ConfigRevision.ToString(CultureInfo.InvariantCulture)).Append('\n');
        return sb.ToString();
    }

    private static void PerListener(StringBuilder sb, string name, string help, IEnumerable<KeyValuePair<int, Counter>> values)
    {
        sb.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
        sb.Append("# TYPE ").Append(name).Append(" counter\n");
        foreach (var (port, counter) in values.OrderBy(kv => kv.Key))
        {
            sb.Append(name).Append("{listener_port=\"").Append(port.ToString(CultureInfo.InvariantCulture)).Append("\"} ")
              .Append(counter.Value.ToString(CultureInfo.InvariantCulture)).Append('\n');
        }
    }

    private static void Label(StringBuilder sb, string name, string value, bool first = false)
    {
        if (!first)
            sb.Append(',');
        sb.Append(name).Append("=\"");
        AppendEscaped(sb, value);
        sb.Append('"');
    }

    /// <summary>Label values escape backslash, double quote and line feed, per the exposition format.</summary>
    internal static void AppendEscaped(StringBuilder sb, string value)
    {
        foreach (var c in value)
        {
            switch (c)
            {
                case '\\': sb.Append("\\\\"); break;
                case '"': sb.Append("\\\""); break;
                case '\n': sb.Append("\\n"); break;
                default: sb.Append(c); break;
            }
        }
    }
}
