using System.Text.Json;
using Weft.Model.Resources;
using Weft.Model.Serialization;
using Weft.Model.Tests.Parsing;

namespace Weft.Model.Tests.Serialization;

public class ResourceJsonTests
{
    [Theory]
    [MemberData(nameof(Samples.All), MemberType = typeof(Samples))]
    public void Round_trips_to_an_equal_resource(string yaml)
    {
        var resource = Yaml.Single<Resource>(yaml);
        var json = ResourceJson.Serialize(resource);
        var back = ResourceJson.Deserialize(json);
        Assert.Equal(resource, back);
        Assert.Equal(resource.GetType(), back.GetType());
        Assert.Equal(json, ResourceJson.Serialize(back));
        Assert.Equal(resource, ResourceJson.Deserialize(ResourceJson.Serialize(resource, indented: true)));
    }

    [Fact]
    public void Output_is_kubernetes_shaped_and_deterministic()
    {
        var svc = Yaml.Single<ServiceResource>("""
            apiVersion: weft.dev/v1
            kind: Service
            metadata: { name: web, labels: { z: "1", a: "2" } }
            spec: { ports: [{ port: 80 }] }
            """);
        Assert.Equal(
            """{"apiVersion":"weft.dev/v1","kind":"Service","metadata":{"name":"web","namespace":"default","labels":{"a":"2","z":"1"}},"spec":{"ports":[{"port":80}],"selector":{"app":"web"}}}""",
            ResourceJson.Serialize(svc));
    }

    [Fact]
    public void Gateway_api_spelling_is_kept()
    {
        var route = Yaml.Single<HttpRouteResource>(Samples.HttpRoute);
        var json = ResourceJson.Serialize(route);
        using var doc = JsonDocument.Parse(json);
        var rule = doc.RootElement.GetProperty("spec").GetProperty("rules")[0];
        Assert.Equal("URLRewrite", rule.GetProperty("filters")[2].GetProperty("type").GetString());
        Assert.True(rule.GetProperty("filters")[2].TryGetProperty("urlRewrite", out _));
        Assert.Equal("1h30m", rule.GetProperty("timeouts").GetProperty("request").GetString());
        Assert.Equal("1s500ms", rule.GetProperty("timeouts").GetProperty("backendRequest").GetString());
        Assert.Equal("", doc.RootElement.GetProperty("spec").GetProperty("parentRefs")[0].GetProperty("group").GetString());
        Assert.False(doc.RootElement.GetProperty("spec").GetProperty("parentRefs")[0].TryGetProperty("isService", out _));
    }

    [Fact]
    public void Deserialize_rejects_invalid_resources_with_every_error()
    {
        var e = Assert.Throws<FormatException>(() => ResourceJson.Deserialize(
            """{"apiVersion":"weft.dev/v1","kind":"Service","metadata":{"name":"Web"},"spec":{"ports":[{"port":0}]}}"""));
        Assert.Contains("metadata.name", e.Message);
        Assert.Contains("spec.ports[0].port", e.Message);
    }
}
