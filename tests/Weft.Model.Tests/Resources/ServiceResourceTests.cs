using Weft.Model.Resources;
using Weft.Model.Tests.Parsing;

namespace Weft.Model.Tests.Resources;

public class ServiceResourceTests
{
    [Fact]
    public void Parses_a_full_service()
    {
        var svc = Yaml.Single<ServiceResource>("""
            apiVersion: weft.dev/v1
            kind: Service
            metadata:
              name: catalog-v2
              namespace: shop
              labels: { tier: backend, app.kubernetes.io/part-of: shop }
              annotations: { note: "anything: goes here" }
            spec:
              ports:
                - { name: web, port: 80, targetPort: 8080 }
                - { name: rpc, port: 9090, protocol: grpc }
              selector: { app: catalog, version: v2 }
            status: { whatever: ignored }
            """);
        var expected = new ServiceResource(
            new ObjectMeta("catalog-v2", "shop", EquatableMap.From([new("tier", "backend"), new("app.kubernetes.io/part-of", "shop")]))
            {
                Annotations = EquatableMap.From([new("note", "anything: goes here")]),
            },
            new ServiceSpec(
                Yaml.List(new ServicePort("web", 80, null, 8080), new ServicePort("rpc", 9090, AppProtocol.Grpc, null)),
                EquatableMap.From([new("app", "catalog"), new("version", "v2")])));
        Assert.Equal(expected, svc);
        Assert.Equal(new ResourceKey("Service", "shop", "catalog-v2"), svc.Key);
        Assert.Equal("weft.dev/v1", svc.ApiVersion);
    }

    [Fact]
    public void Defaults_namespace_protocol_and_selector()
    {
        var svc = Yaml.Single<ServiceResource>("""
            apiVersion: weft.dev/v1
            kind: Service
            metadata: { name: ratings }
            spec:
              ports: [{ port: 8080 }]
            """);
        Assert.Equal("default", svc.Metadata.Namespace);
        // An omitted protocol is "not declared": proxies detect it per connection.
        Assert.Null(svc.Spec.Ports[0].Protocol);
        Assert.Equal(EquatableMap.From([new("app", "ratings")]), svc.Spec.Selector);
    }

    [Fact]
    public void Reports_port_range_protocol_and_name_errors_with_lines()
    {
        var errors = Yaml.Errors("""
            apiVersion: weft.dev/v1
            kind: Service
            metadata:
              name: Catalog
            spec:
              ports:
                - name: web
                  port: 70000
                - name: web
                  port: "80"
                  protocol: udp
            """);
        Assert.Equal(4, errors.At("metadata.name").Line);
        Assert.Contains("RFC 1035", errors.At("metadata.name").Message);
        Assert.Equal(8, errors.At("spec.ports[0].port").Line);
        Assert.Contains("between 1 and 65535", errors.At("spec.ports[0].port").Message);
        Assert.Equal(9, errors.At("spec.ports[1].name").Line);
        Assert.Equal("expected integer, got string", errors.At("spec.ports[1].port").Message);
        var protocol = errors.At("spec.ports[1].protocol");
        Assert.Equal(11, protocol.Line);
        Assert.Equal(17, protocol.Column);
        Assert.Contains("http, http2, grpc, tcp, tls", protocol.Message);
        Assert.Equal(5, errors.Count);
    }

    [Fact]
    public void Requires_ports()
    {
        var e = Yaml.Error("""
            apiVersion: weft.dev/v1
            kind: Service
            metadata: { name: a }
            spec: { selector: { app: a } }
            """);
        Assert.Equal("spec.ports", e.Path);
        Assert.Equal("required field is missing", e.Message);
    }

    [Fact]
    public void Validates_label_keys_and_values()
    {
        var errors = Yaml.Errors("""
            apiVersion: weft.dev/v1
            kind: Service
            metadata:
              name: a
              labels:
                "bad key!": x
                ok: "-bad-value"
            spec: { ports: [{ port: 80 }] }
            """);
        Assert.Equal(6, errors.At("metadata.labels[\"bad key!\"]").Line);
        Assert.Equal(7, errors.At("metadata.labels[\"ok\"]").Line);
    }
}
