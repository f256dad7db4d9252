using Weft.Proxy.Tests.Support;

namespace Weft.Proxy.Tests.Codecs.Http1;

/// <summary>ProxyHostOptions.LeanHttp1 = false keeps Kestrel's HTTP/1 pipeline + HttpForwarder: the path before the lean one.</summary>
public sealed class SwitchTests
{
    [Fact]
    public async Task With_the_lean_path_off_requests_go_through_kestrel()
    {
        await using var backend = await Backend.StartAsync("app");
        await using var proxy = await TestProxy.StartAsync(options: new ProxyHostOptions { LeanHttp1 = false });
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("app")).Cluster("app", backend.Port).Build());
        using var client = TestProxy.Client(port);
        Assert.Contains("backend: app", await client.GetStringAsync("/off"));

        // Kestrel's own 400 carries no x-weft-reason: the lean path did not see this request.
        await using var raw = await RawClient.ConnectAsync(port);
        await raw.SendAsync("GET / HTTP/1.1\r\nHost: a\r\nX-A : b\r\n\r\n");
        var (text, _) = await raw.ReadToEndAsync();
        Assert.StartsWith("HTTP/1.1 400", text);
        Assert.DoesNotContain("x-weft-reason", text);
    }

    [Fact]
    public async Task Kestrel_path_gateway_also_removes_mesh_internal_headers()
    {
        await using var backend = await Backend.StartAsync("app");
        await using var proxy = await TestProxy.StartAsync(options: new ProxyHostOptions { LeanHttp1 = false });
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port, direction: Weft.Protocol.Discovery.Direction.GatewayIngress)
            .Routes("rt", ConfigBuilder.Route("app")).Cluster("app", backend.Port).Build());
        using var client = TestProxy.Client(port);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/g");
        request.Headers.Add("x-weft-anything", "forged");
        var body = await (await client.SendAsync(request)).Content.ReadAsStringAsync();
        Assert.DoesNotContain("forged", body);
        Assert.Contains("x-weft-source: ", body);
    }
}
