using Weft.Model.Resources;
using Weft.Model.Serialization;
using Weft.Model.Tests.Parsing;

namespace Weft.Model.Tests.Serialization;

public class ResourceYamlTests
{
    [Theory]
    [MemberData(nameof(Samples.All), MemberType = typeof(Samples))]
    public void Yaml_output_parses_back_to_an_equal_resource(string yaml)
    {
        var resource = Yaml.Single<Resource>(yaml);
        Assert.Equal(resource, Yaml.Single<Resource>(ResourceYaml.Serialize(resource)));
    }

    [Fact]
    public void Golden_service_yaml()
    {
        var svc = Yaml.Single<ServiceResource>("""
            apiVersion: weft.dev/v1
            kind: Service
            metadata: { name: web, labels: { version: "2" } }
            spec: { ports: [{ name: http, port: 80, protocol: http }] }
            """);
        Assert.Equal("""
            apiVersion: weft.dev/v1
            kind: Service
            metadata:
              name: web
              namespace: default
              labels:
                version: "2"
            spec:
              ports:
              - name: http
                port: 80
                protocol: http
              selector:
                app: web

            """.ReplaceLineEndings("\n"), ResourceYaml.Serialize(svc).ReplaceLineEndings("\n"));
    }

    [Fact]
    public void Golden_meshconfig_proxy_yaml()
    {
        var mesh = Yaml.Single<MeshConfigResource>("""
            apiVersion: weft.dev/v1
            kind: MeshConfig
            metadata: { name: default }
            spec:
              proxy: { requestTimeout: 0s, tcpIdleTimeout: 60m, minBodyDataRate: { bytesPerSecond: 240 }, ambiguousPaths: Keep }
            """);
        Assert.Equal("""
            apiVersion: weft.dev/v1
            kind: MeshConfig
            metadata:
              name: default
              namespace: default
            spec:
              trustDomain: cluster.local
              mtls:
                mode: PERMISSIVE
              certificates:
                workloadTtl: 24h
              tracing:
                samplingPercent: 1
              accessLog:
                format: json
              proxy:
                requestTimeout: 0s
                tcpIdleTimeout: 1h
                minBodyDataRate:
                  bytesPerSecond: 240
                ambiguousPaths: Keep

            """.ReplaceLineEndings("\n"), ResourceYaml.Serialize(mesh).ReplaceLineEndings("\n"));
    }

    [Fact]
    public void Golden_authorization_policy_yaml()
    {
        var policy = Yaml.Single<AuthorizationPolicyResource>("""
            apiVersion: weft.dev/v1
            kind: AuthorizationPolicy
            metadata: { name: ops }
            spec:
              targetRef: { kind: Mesh }
              rules:
                - from: [{ source: { principals: ["*"], notNamespaces: ["*-test"] } }]
                  to: [{ operation: { paths: ["*.php", "/admin/*"], ports: [8080] } }]
                  when: [{ key: "request.headers[X-Role]", values: ["true", "ops-*"] }]
                - {}
            """);
        Assert.Equal("""
            apiVersion: weft.dev/v1
            kind: AuthorizationPolicy
            metadata:
              name: ops
              namespace: default
            spec:
              targetRef:
                kind: Mesh
              action: ALLOW
              rules:
              - from:
                - source:
                    principals:
                    - '*'
                    notNamespaces:
                    - '*-test'
                to:
                - operation:
                    paths:
                    - '*.php'
                    - /admin/*
                    ports:
                    - 8080
                when:
                - key: request.headers[x-role]
                  values:
                  - "true"
                  - ops-*
              - {}

            """.ReplaceLineEndings("\n"), ResourceYaml.Serialize(policy).ReplaceLineEndings("\n"));
    }

    [Fact]
    public void Many_resources_become_one_multi_document_text()
    {
        var a = Yaml.Single<Resource>(Samples.Service);
        var b = Yaml.Single<Resource>(Samples.MeshConfig);
        var result = Weft.Model.Parsing.ResourceParser.Parse(ResourceYaml.Serialize([a, b]), "out.yaml");
        Assert.Equal([a, b], result.Resources);
    }
}
