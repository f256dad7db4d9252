using System.Globalization;
using System.Text;

namespace Weft.Proxy.Telemetry;

/// <summary>Prometheus text exposition format 0.0.4, written by hand (scrapes are rare: cold path).</summary>
internal static class PrometheusText
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    public static string Write(ProxyMetrics metrics, Security.WorkloadCertificate? certificate = null)
    {
        var sb = new StringBuilder(4096);
        sb.Append("# HELP weft_requests_total Requests handled by this proxy. A gateway counts its requests as outbound.\n");
        sb.Append("# TYPE weft_requests_total counter\n");
        var series = metrics.Requests.OrderBy(kv => kv.Key.ToString(), StringComparer.Ordinal).ToList();
        foreach (var (l, s) in series)
        {
            sb.Append("weft_requests_total{");
            Labels(sb, l);
            sb.Append("} ").Append(s.Count.ToString(CultureInfo.InvariantCulture)).Append('\n');
        }
        WriteDurations(sb, series);
        sb.Append("# HELP weft_requests_active Requests in flight: inbound ones are inside this workload's app; a gateway counts its requests as outbound.\n");
        sb.Append("# TYPE weft_requests_active gauge\n");
        sb.Append("weft_requests_active{direction=\"inbound\"} ").Append(metrics.ActiveInbound.Value.ToString(CultureInfo.InvariantCulture)).Append('\n');
        sb.Append("weft_requests_active{direction=\"outbound\"} ").Append(metrics.ActiveOutbound.Value.ToString(CultureInfo.InvariantCulture)).Append('\n');
        PerListener(sb, "weft_tcp_connections_opened_total", "Downstream connections accepted, per listener port.", metrics.TcpOpened);
        PerListener(sb, "weft_tcp_connections_closed_total", "Downstream connections closed, per listener port.", metrics.TcpClosed);
        PerListener(sb, "weft_tcp_connections_rejected_total", "Downstream connections refused at accept: the listener's or the proxy's connection limit was reached, per listener port.",
            metrics.TcpRejected);
        PerListener(sb, "weft_tcp_sent_bytes_total", "Bytes of opaque TCP (and TLS passthrough) sent to downstream clients, per listener port.", metrics.TcpSentBytes);
        PerListener(sb, "weft_tcp_received_bytes_total", "Bytes of opaque TCP (and TLS passthrough) received from downstream clients, per listener port.", metrics.TcpReceivedBytes);
        PerListenerLabelled(sb, "weft_protocol_detection_total", "Connections whose protocol was detected, by outcome (timeout: nothing decisive within the window, forwarded as TCP).",
            "outcome", metrics.Detections);
        PerListenerLabelled(sb, "weft_tls_sni_rejected_total", "TLS passthrough connections closed unforwarded, by reason.", "reason", metrics.SniRejections);
        PerListenerLabelled(sb, "weft_mtls_connections_total", "Inbound connections by mTLS outcome: accepted, handshake_failed, no_certificate, protocol_refused (a raw tunnel to an HTTP port), plaintext (PERMISSIVE), plaintext_refused (STRICT).", "outcome", metrics.MtlsOutcomes);
        sb.Append("# HELP weft_authorization_denied_total Inbound requests and TCP connections refused by authorization, by reason: mtls_required (a request on a STRICT port's plaintext connection; connections themselves are counted in weft_mtls_connections_total), deny_policy (policy: the DENY AuthorizationPolicy that matched) or no_allow_match.\n");
        sb.Append("# TYPE weft_authorization_denied_total counter\n");
        foreach (var ((reason, policy, protocol), counter) in metrics.AuthorizationDenials.OrderBy(kv => kv.Key.Reason, StringComparer.Ordinal)
                     .ThenBy(kv => kv.Key.Policy, StringComparer.Ordinal).ThenBy(kv => kv.Key.Protocol, StringComparer.Ordinal))
        {
            sb.Append("weft_authorization_denied_total{");
            Label(sb, "reason", reason, first: true);
            Label(sb, "policy", policy);
            Label(sb, "protocol", protocol);
            sb.Append("} ").Append(counter.Value.ToString(CultureInfo.InvariantCulture)).Append('\n');
        }
        sb.Append("# HELP weft_authorization_audited_total Inbound requests and connections an AUDIT AuthorizationPolicy matched, by policy.\n");
        sb.Append("# TYPE weft_authorization_audited_total counter\n");
        foreach (var (policy, counter) in metrics.AuthorizationAudits.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            sb.Append("weft_authorization_audited_total{");
            Label(sb, "policy", policy, first: true);
            sb.Append("} ").Append(counter.Value.ToString(CultureInfo.InvariantCulture)).Append('\n');
        }
        PerListener(sb, "weft_http2_reset_flood_closed_total", "HTTP/2 connections closed for resetting most of their streams before the answer (rapid reset), per listener port.",
            metrics.ResetFloods);
        sb.Append("# HELP weft_config_revision The config store revision of the config this proxy serves.\n");
        sb.Append("# TYPE weft_config_revision gauge\n");
        sb.Append("weft_config_revision ").Append(metrics.ConfigRevision.ToString(CultureInfo.InvariantCulture)).Append('\n');
        if (certificate is not null)
        {
            sb.Append("# HELP weft_certificate_expiry_timestamp_seconds When this workload's certificate expires (Unix time); absent until it has one.\n");
            sb.Append("# TYPE weft_certificate_expiry_timestamp_seconds gauge\n");
            sb.Append("weft_certificate_expiry_timestamp_seconds{spiffe_id=\"");
            AppendEscaped(sb, certificate.SpiffeId);
            sb.Append("\"} ").Append(certificate.NotAfter.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture)).Append('\n');
        }
        Transport(sb, "weft_transport_handler_failures_total", "Connections reset because code the transport ran for them threw (the process and other connections go on).",
            Weft.Proxy.Transport.TransportCounters.HandlerFailures);
        Transport(sb, "weft_transport_register_failures_total", "New connections closed because epoll refused them (ENOSPC, ENOMEM).",
            Weft.Proxy.Transport.TransportCounters.RegisterFailures);
        Transport(sb, "weft_transport_accept_exhausted_total", "Accepts that failed for want of descriptors or memory (EMFILE, ENFILE...) and were retried on a timer.",
            Weft.Proxy.Transport.TransportCounters.AcceptDescriptorExhausted);
        Transport(sb, "weft_transport_batch_fallbacks_total", "Batched sends io_uring did not make, made the ordinary way.",
            Weft.Proxy.Transport.TransportCounters.BatchFallbacks);
        sb.Append("# HELP weft_memory_trims_total Full collections run while idle to give memory back to the OS.\n");
        sb.Append("# TYPE weft_memory_trims_total counter\n");
        sb.Append("weft_memory_trims_total ").Append(metrics.MemoryTrims.Value.ToString(CultureInfo.InvariantCulture)).Append('\n');
        ProcessMetrics.Write(sb);
        return sb.ToString();
    }

    private static void Transport(StringBuilder sb, string name, string help, long value)
    {
        sb.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
        sb.Append("# TYPE ").Append(name).Append(" counter\n");
        sb.Append(name).Append(' ').Append(value.ToString(CultureInfo.InvariantCulture)).Append('\n');
    }

    private static void Labels(StringBuilder sb, in RequestLabels l)
    {
        Label(sb, "direction", l.Direction, first: true);
        Label(sb, "source_service", l.SourceService);
        Label(sb, "source_version", l.SourceVersion);
        Label(sb, "destination_service", l.DestinationService);
        Label(sb, "destination_version", l.DestinationVersion);
        Label(sb, "response_code", l.ResponseCode);
        Label(sb, "grpc_status", l.GrpcStatus);
        Label(sb, "protocol", l.Protocol);
        Label(sb, "mtls", l.Mtls);
    }

    /// <summary>weft_request_duration_seconds: the request series merged by response code class (2xx, 5xx...).</summary>
    private static void WriteDurations(StringBuilder sb, List<KeyValuePair<RequestLabels, RequestSeries>> series)
    {
        var bounds = RequestSeries.BoundsSeconds;
        var merged = new SortedDictionary<string, (RequestLabels Labels, long[] Buckets, long SumTicks, long Count)>(StringComparer.Ordinal);
        foreach (var (labels, s) in series)
        {
            var code = labels.ResponseCode;
            var byClass = labels with { ResponseCode = code.Length == 3 ? code[0] + "xx" : code };
            var key = byClass.ToString();
            if (!merged.TryGetValue(key, out var entry))
                entry = (byClass, new long[bounds.Length + 1], 0, 0);
            for (var i = 0; i < entry.Buckets.Length; i++)
                entry.Buckets[i] += s.Bucket(i);
            merged[key] = (entry.Labels, entry.Buckets, entry.SumTicks + s.SumTicks, entry.Count + s.Count);
        }

        sb.Append("# HELP weft_request_duration_seconds Time from request received to response complete, by response code class.\n");
        sb.Append("# TYPE weft_request_duration_seconds histogram\n");
        foreach (var (labels, buckets, sumTicks, count) in merged.Values)
        {
            long cumulative = 0;
            for (var i = 0; i <= bounds.Length; i++)
            {
                cumulative += buckets[i];
                sb.Append("weft_request_duration_seconds_bucket{");
                Labels(sb, labels);
                sb.Append(",le=\"").Append(i < bounds.Length ? bounds[i].ToString(CultureInfo.InvariantCulture) : "+Inf").Append("\"} ")
                  .Append(cumulative.ToString(CultureInfo.InvariantCulture)).Append('\n');
            }
            sb.Append("weft_request_duration_seconds_sum{");
            Labels(sb, labels);
            sb.Append("} ").Append(((double)sumTicks / System.Diagnostics.Stopwatch.Frequency).ToString("R", CultureInfo.InvariantCulture)).Append('\n');
            sb.Append("weft_request_duration_seconds_count{");
            Labels(sb, labels);
            sb.Append("} ").Append(count.ToString(CultureInfo.InvariantCulture)).Append('\n');
        }
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

    private static void PerListenerLabelled(StringBuilder sb, string name, string help, string label,
        IEnumerable<KeyValuePair<(string Listener, string Value), Counter>> values)
    {
        sb.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
        sb.Append("# TYPE ").Append(name).Append(" counter\n");
        foreach (var ((listener, value), counter) in values.OrderBy(kv => kv.Key.Listener, StringComparer.Ordinal).ThenBy(kv => kv.Key.Value, StringComparer.Ordinal))
        {
            sb.Append(name).Append('{');
            Label(sb, "listener", listener, first: true);
            Label(sb, label, value);
            sb.Append("} ").Append(counter.Value.ToString(CultureInfo.InvariantCulture)).Append('\n');
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
