namespace Weft.Model.Tests.Serialization;

/// <summary>One rich document per kind, exercising every field, for round-trip tests.</summary>
internal static class Samples
{
    public const string Service = """
        apiVersion: weft.dev/v1
        kind: Service
        metadata:
          name: catalog
          namespace: shop
          labels: { tier: backend }
          annotations: { "weft.dev/note": "true", other: "a: b" }
        spec:
          ports:
            - { name: web, port: 80, targetPort: 8080 }
            - { name: grpc, port: 9090, protocol: grpc }
          selector: { app: catalog }
        """;

    public const string HttpRoute = """
        apiVersion: gateway.networking.k8s.io/v1
        kind: HTTPRoute
        metadata: { name: catalog-routes, namespace: shop }
        spec:
          parentRefs:
            - { group: "", kind: Service, name: catalog, port: 80 }
            - { name: ingress, sectionName: http }
          hostnames: [shop.example.com]
          rules:
            - name: canary
              matches:
                - path: { type: RegularExpression, value: "^/items/[0-9]+$" }
                  headers: [{ name: x-canary, value: "1" }]
                  queryParams: [{ name: debug, value: "true" }]
                  method: POST
              filters:
                - type: RequestHeaderModifier
                  requestHeaderModifier: { set: [{ name: x-a, value: "" }], remove: [x-b] }
                - type: RequestMirror
                  requestMirror: { backendRef: { name: shadow, port: 80 }, fraction: { numerator: 1, denominator: 3 } }
                - type: URLRewrite
                  urlRewrite: { path: { type: ReplaceFullPath, replaceFullPath: /v2/items } }
              backendRefs:
                - { name: catalog-v1, port: 80, weight: 0 }
                - name: catalog-v2
                  port: 80
                  weight: 1000000
                  filters: [{ type: ResponseHeaderModifier, responseHeaderModifier: { add: [{ name: x-v, value: "2" }] } }]
              timeouts: { request: 1h30m, backendRequest: 1500ms }
              retry: { codes: [503], attempts: 2, backoff: 25ms }
            - matches: [{ path: { value: /old } }]
              filters:
                - type: RequestRedirect
                  requestRedirect: { scheme: https, port: 8443, statusCode: 308, path: { type: ReplacePrefixMatch, replacePrefixMatch: /new } }
            - timeouts: { request: 0s }
        """;

    public const string GrpcRoute = """
        apiVersion: gateway.networking.k8s.io/v1
        kind: GRPCRoute
        metadata: { name: ratings }
        spec:
          parentRefs: [{ group: "", kind: Service, name: ratings }]
          rules:
            - matches:
                - method: { service: shop.Ratings, method: Get }
                  headers: [{ type: RegularExpression, name: x-user, value: "a.*" }]
              backendRefs: [{ name: ratings-v2, port: 9090, weight: 3 }]
            - {}
        """;

    public const string MeshConfig = """
        apiVersion: weft.dev/v1
        kind: MeshConfig
        metadata: { name: default }
        spec:
          trustDomain: example.org
          mtls: { mode: STRICT, overrides: [{ service: legacy, namespace: old, mode: PERMISSIVE }] }
          certificates: { workloadTtl: 2h }
          tracing: { samplingPercent: 0.5, otlpEndpoint: "http://collector:4318" }
          proxy:
            maxConnectionsPerListener: 100
            maxConnections: 500
            requestHeadersTimeout: 10s
            requestTimeout: 0s
            httpIdleTimeout: 1m30s
            tcpIdleTimeout: 1193h2m47s295ms
            minBodyDataRate: { bytesPerSecond: 0, grace: 1s500ms }
            maxUpstreamConnectionsPerEndpoint: 8
            maxPendingRequestsPerEndpoint: 16
            upstreamIdleTimeout: 250ms
            ambiguousPaths: Keep
        """;

    /// <summary>A MeshConfig that sets only part of spec.proxy: the rest must stay unset through a round trip.</summary>
    public const string MeshConfigPartialProxy = """
        apiVersion: weft.dev/v1
        kind: MeshConfig
        metadata: { name: default }
        spec:
          proxy: { requestTimeout: 20s, minBodyDataRate: { grace: 2s } }
        """;

    /// <summary>Every default: spec.proxy comes out as an empty object and must read back as unset.</summary>
    public const string MeshConfigDefaults = """
        apiVersion: weft.dev/v1
        kind: MeshConfig
        metadata: { name: default }
        """;

    public const string AuthorizationPolicy = """
        apiVersion: weft.dev/v1
        kind: AuthorizationPolicy
        metadata: { name: backend-admin, namespace: shop, labels: { team: ops } }
        spec:
          targetRef: { kind: Service, name: backend }
          action: AUDIT
          rules:
            - from:
                - source:
                    principals: ["cluster.local/ns/shop/sa/web", "spiffe://cluster.local/ns/ops/*", "*"]
                    notPrincipals: ["*/sa/intruder"]
                    namespaces: [shop, "prod-*"]
                    notNamespaces: ["*-test"]
                - source: { notPrincipals: ["*"] }
              to:
                - operation:
                    methods: [GET, POST]
                    notMethods: [DELETE]
                    paths: ["/admin", "/admin/*", "*.php", "*", "/a%2Fb"]
                    notPaths: ["/admin/health"]
                    ports: [8080, 8443]
                    notPorts: [9090]
              when:
                - { key: "request.headers[X-Role]", values: ["admin", "ops-*"], notValues: ["*-readonly", "true", "1"] }
                - { key: "request.headers[x-b]", notValues: ["*"] }
            - {}
            - to: [{ operation: { ports: [1] } }]
        """;

    /// <summary>One empty rule (matches everything): it serializes as `{}` and must read back as one rule.</summary>
    public const string AuthorizationPolicyEmptyRule = """
        apiVersion: weft.dev/v1
        kind: AuthorizationPolicy
        metadata: { name: allow-all }
        spec:
          targetRef: { kind: Mesh }
          rules: [{}]
        """;

    /// <summary>No rules at all: `rules` is left out of the JSON and must read back as none.</summary>
    public const string AuthorizationPolicyNoRules = """
        apiVersion: weft.dev/v1
        kind: AuthorizationPolicy
        metadata: { name: deny-nothing }
        spec:
          targetRef: { kind: Mesh }
          action: DENY
        """;

    public static TheoryData<string> All => new()
    {
        Service, HttpRoute, GrpcRoute, MeshConfig, MeshConfigPartialProxy, MeshConfigDefaults,
        AuthorizationPolicy, AuthorizationPolicyEmptyRule, AuthorizationPolicyNoRules,
    };
}
