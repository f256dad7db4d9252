using Weft.Protocol.Discovery;
using Weft.Proxy.Tests.Support;

namespace Weft.Proxy.Tests.Pipeline;

public sealed class IdentityHeaderTests
{
    private static async Task<(string Echo, string Metrics)> SendAsync(ProxyIdentity identity, Direction direction, string? incomingSource)
    {
        await using var backend = await Backend.StartAsync("app");
        await using var proxy = await TestProxy.StartAsync(identity);
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port, direction: direction)
            .Routes("rt", ConfigBuilder.Route("catalog")).Cluster("catalog", backend.Port).Build());
        using var client = TestProxy.Client(port);
        var request = new HttpRequestMessage(HttpMethod.Get, "/");
        if (incomingSource is not null)
            request.Headers.TryAddWithoutValidation("x-weft-source", incomingSource);
        using var response = await client.SendAsync(request);
        return (await response.Content.ReadAsStringAsync(), await proxy.MetricsAsync());
    }

    [Fact]
    public async Task Outbound_sidecar_announces_its_identity_replacing_what_the_app_sent()
    {
        var (echo, metrics) = await SendAsync(new ProxyIdentity("frontend", "v7", "shop", Role.Sidecar), Direction.Outbound, "spoofed;v0;evil");
        Assert.Contains("x-weft-source: frontend;v7;shop\n", echo);
        Assert.DoesNotContain("spoofed", echo);
        Assert.Contains("weft_requests_total{direction=\"outbound\",source_service=\"frontend\",source_version=\"v7\"," +
                        "destination_service=\"catalog\",destination_version=\"v1\",response_code=\"200\",grpc_status=\"\",protocol=\"http\",mtls=\"false\"} 1\n", metrics);
    }

    [Fact]
    public async Task An_unauthenticated_inbound_claim_of_a_source_is_dropped_and_counted_unknown()
    {
        // Plaintext on a PERMISSIVE inbound port: the header is anyone's to write, so it is no identity (MtlsTests has the real one).
        var (echo, metrics) = await SendAsync(new ProxyIdentity("catalog", "v2", "default", Role.Sidecar), Direction.Inbound, "frontend;v7;shop");
        Assert.DoesNotContain("x-weft-source", echo);
        Assert.DoesNotContain("source_service=\"frontend\"", metrics);
        Assert.Contains("weft_requests_total{direction=\"inbound\",source_service=\"unknown\",source_version=\"unknown\"," +
                        "destination_service=\"catalog\",destination_version=\"v2\",response_code=\"200\",grpc_status=\"\",protocol=\"http\",mtls=\"false\"} 1\n", metrics);
    }

    [Fact]
    public async Task Inbound_without_source_counts_unknown()
    {
        var (_, metrics) = await SendAsync(new ProxyIdentity("catalog", "v2", "default", Role.Sidecar), Direction.Inbound, null);
        Assert.Contains("direction=\"inbound\",source_service=\"unknown\",source_version=\"unknown\"", metrics);
    }

    [Fact]
    public async Task Gateway_drops_outside_source_header_and_sends_its_own()
    {
        var (echo, metrics) = await SendAsync(new ProxyIdentity("ingress", "v1", "default", Role.Gateway), Direction.GatewayIngress, "frontend;v7;shop");
        Assert.Contains("x-weft-source: ingress;v1;default\n", echo);
        Assert.DoesNotContain("frontend", echo);
        Assert.Contains("direction=\"outbound\",source_service=\"ingress\"", metrics);
    }
}
