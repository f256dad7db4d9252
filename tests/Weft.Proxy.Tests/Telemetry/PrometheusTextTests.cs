using System.Diagnostics;
using System.Text;
using Weft.Proxy.Telemetry;

namespace Weft.Proxy.Tests.Telemetry;

public sealed class PrometheusTextTests
{
    [Fact]
    public void Label_values_are_escaped()
    {
        var sb = new StringBuilder();
        PrometheusText.AppendEscaped(sb, "a\"b\\c\nd");
        Assert.Equal("a\\\"b\\\\c\\nd", sb.ToString());
    }

    [Fact]
    public void Counters_are_written_with_help_type_and_values()
    {
        var metrics = new ProxyMetrics { ConfigRevision = 12 };
        var labels = new RequestLabels("outbound", "web", "v1", "cat\"alog", "v2", "200", "", "http", "false");
        metrics.SeriesFor(labels).Record(Stopwatch.Frequency / 1000);   // 1 ms
        metrics.SeriesFor(labels).Record(Stopwatch.Frequency * 60);     // above every bound
        metrics.SeriesFor(labels with { ResponseCode = "503" }).Record(0);
        metrics.ConnectionOpened(15001);
        var text = PrometheusText.Write(metrics);
        Assert.Contains("# TYPE weft_requests_total counter\n", text);
        Assert.Contains("weft_requests_total{direction=\"outbound\",source_service=\"web\",source_version=\"v1\",destination_service=\"cat\\\"alog\"," +
                        "destination_version=\"v2\",response_code=\"200\",grpc_status=\"\",protocol=\"http\",mtls=\"false\"} 2\n", text);
        Assert.Contains("response_code=\"503\",grpc_status=\"\",protocol=\"http\",mtls=\"false\"} 1\n", text);
        Assert.Contains("weft_tcp_connections_opened_total{listener_port=\"15001\"} 1\n", text);
        Assert.Contains("# TYPE weft_config_revision gauge\nweft_config_revision 12\n", text);
        Assert.Contains("# TYPE weft_request_duration_seconds histogram\n", text);
        Assert.Contains("destination_version=\"v2\",response_code=\"2xx\",grpc_status=\"\",protocol=\"http\",mtls=\"false\",le=\"+Inf\"} 2\n", text);
        Assert.Contains("response_code=\"5xx\",grpc_status=\"\",protocol=\"http\",mtls=\"false\"} 1\n", text);
        Assert.EndsWith("\n", text);
    }

    [Fact]
    public void Histogram_buckets_are_cumulative()
    {
        var metrics = new ProxyMetrics();
        var labels = new RequestLabels("inbound", "a", "v1", "b", "v1", "200", "", "http", "false");
        metrics.SeriesFor(labels).Record(Stopwatch.Frequency / 5000);   // 0.2 ms
        metrics.SeriesFor(labels).Record(Stopwatch.Frequency / 50);     // 20 ms
        metrics.SeriesFor(labels with { ResponseCode = "204" }).Record(Stopwatch.Frequency * 2); // 2 s, same class
        var text = PrometheusText.Write(metrics);
        Assert.Contains("le=\"0.0005\"} 1\n", text);
        Assert.Contains("le=\"0.01\"} 1\n", text);
        Assert.Contains("le=\"0.025\"} 2\n", text);
        Assert.Contains("le=\"2.5\"} 3\n", text);
        Assert.Contains("le=\"+Inf\"} 3\n", text);
        Assert.Contains("response_code=\"2xx\",grpc_status=\"\",protocol=\"http\",mtls=\"false\"} 3\n", text);
    }

    [Fact]
    public async Task Counting_from_many_threads_loses_nothing()
    {
        var metrics = new ProxyMetrics();
        var labels = new RequestLabels("inbound", "a", "v1", "b", "v1", "200", "", "http", "false");
        await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() =>
        {
            for (var i = 0; i < 10_000; i++)
                metrics.SeriesFor(labels).Record(0);
        })));
        Assert.Contains("mtls=\"false\"} 80000\n", PrometheusText.Write(metrics));
    }
}
