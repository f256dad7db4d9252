using Weft.Model.Parsing;
using Weft.Model.Resources;

namespace Weft.Model.Tests.Parsing;

public class ResourceParserTests
{
    private const string Service = """
        apiVersion: weft.dev/v1
        kind: Service
        metadata: { name: web }
        spec: { ports: [{ port: 80 }] }
        """;

    [Fact]
    public void Reads_every_document_and_skips_empty_ones()
    {
        var result = ResourceParser.Parse($"""
            # leading comment
            ---
            {Service}
            ---
            ---
            # only a comment
            ---
            apiVersion: gateway.networking.k8s.io/v1
            kind: HTTPRoute
            metadata: {"{"} name: web {"}"}
            spec: {"{"} parentRefs: [{"{"} group: "", kind: Service, name: web {"}"}] {"}"}
            """, "all.yaml");
        Assert.True(result.Ok, string.Join("\n", result.Errors));
        Assert.Equal(["Service", "HTTPRoute"], result.Resources.Select(r => r.Kind));
    }

    [Fact]
    public void Collects_errors_across_documents_with_document_index_and_line()
    {
        var result = ResourceParser.Parse("""
            apiVersion: weft.dev/v1
            kind: Service
            metadata: { name: ok }
            spec: { ports: [{ port: 80 }] }
            ---
            apiVersion: weft.dev/v1
            kind: Service
            metadata: { name: bad }
            spec: { ports: [{ port: 0 }], selectr: {} }
            ---
            apiVersion: weft.dev/v1
            kind: Gateway
            metadata: { name: ingress }
            ---
            apiVersion: weft.dev/v1
            kind: HTTPRoute
            metadata: { name: r }
            spec: {}
            """, "multi.yaml");
        Assert.Equal(["ok"], result.Resources.Select(r => r.Metadata.Name));
        var errors = result.Errors;
        Assert.Equal(4, errors.Count);
        var port = errors.At("spec.ports[0].port");
        Assert.Equal((1, 9), (port.Document, port.Line));
        var selector = errors.At("spec.selectr");
        Assert.Equal("unknown field; did you mean \"selector\"?", selector.Message);
        var reserved = errors.At("kind");
        Assert.Equal("kind Gateway is reserved and not supported yet", reserved.Message);
        Assert.Equal((2, 12), (reserved.Document, reserved.Line));
        var apiVersion = errors.At("apiVersion");
        Assert.Equal("kind HTTPRoute has apiVersion gateway.networking.k8s.io/v1, not weft.dev/v1", apiVersion.Message);
        Assert.Equal((3, 15), (apiVersion.Document, apiVersion.Line));
    }

    [Fact]
    public void Syntax_error_has_its_line_and_other_documents_are_still_read()
    {
        var result = ResourceParser.Parse($"""
            {Service}
            ---
            apiVersion: weft.dev/v1
            kind: Service
            metadata:
              name: a
               broken: here
            ---
            apiVersion: weft.dev/v1
            kind: Service
            metadata: {"{"} name: web2 {"}"}
            spec: {"{"} ports: [{"{"} port: 0 {"}"}] {"}"}
            """, "syntax.yaml");
        Assert.Equal(["web"], result.Resources.Select(r => r.Metadata.Name));
        Assert.Equal(2, result.Errors.Count);
        var syntax = result.Errors[0];
        Assert.StartsWith("YAML syntax error", syntax.Message);
        Assert.Equal((1, 10), (syntax.Document, syntax.Line));
        Assert.Equal("syntax.yaml", syntax.File);
        Assert.Equal((2, 15, "spec.ports[0].port"), (result.Errors[1].Document, result.Errors[1].Line, result.Errors[1].Path));
    }

    [Fact]
    public void Unclosed_flow_mapping_is_a_syntax_error_not_an_exception()
    {
        var e = Yaml.Error("apiVersion: weft.dev/v1\nkind: Service\nmetadata: { name: a\nspec: {}\n");
        Assert.StartsWith("YAML syntax error", e.Message);
        Assert.True(e.Line >= 3);
    }

    [Fact]
    public void Duplicate_key_is_reported()
    {
        var e = Yaml.Error("apiVersion: weft.dev/v1\nkind: Service\nkind: Service\n");
        Assert.Equal(3, e.Line);
        Assert.Contains("Duplicate key", e.Message);
    }

    [Fact]
    public void Duplicate_resources_are_rejected()
    {
        var result = ResourceParser.Parse($"{Service}\n---\n{Service}\n", "dup.yaml");
        var e = Assert.Single(result.Errors);
        Assert.Equal((1, 8, "metadata.name"), (e.Document, e.Line, e.Path));
        Assert.Equal("duplicate Service \"default/web\": already defined in document 0 (line 3)", e.Message);
        Assert.Single(result.Resources);
    }

    [Fact]
    public void Same_name_in_other_namespace_or_kind_is_not_a_duplicate()
    {
        var result = ResourceParser.Parse($"""
            {Service}
            ---
            apiVersion: weft.dev/v1
            kind: Service
            metadata: {"{"} name: web, namespace: other {"}"}
            spec: {"{"} ports: [{"{"} port: 80 {"}"}] {"}"}
            ---
            apiVersion: gateway.networking.k8s.io/v1
            kind: HTTPRoute
            metadata: {"{"} name: web {"}"}
            spec: {"{"}{"}"}
            """, "f.yaml");
        Assert.True(result.Ok, string.Join("\n", result.Errors));
        Assert.Equal(3, result.Resources.Count);
    }

    [Theory]
    [InlineData("kind: Foo", "unknown kind \"Foo\"; known kinds: Service, HTTPRoute, GRPCRoute, MeshConfig, AuthorizationPolicy")]
    [InlineData("kind: service", "unknown kind \"service\"; did you mean \"Service\"?; known kinds: Service, HTTPRoute, GRPCRoute, MeshConfig, AuthorizationPolicy")]
    [InlineData("kind: RateLimitPolicy", "kind RateLimitPolicy is reserved and not supported yet")]
    [InlineData("kind: RetryBudget", "kind RetryBudget is reserved and not supported yet")]
    public void Kind_errors(string kindLine, string message)
    {
        var e = Yaml.Error($"apiVersion: weft.dev/v1\n{kindLine}\nmetadata: {{ name: a }}\n");
        Assert.Equal(("kind", 2, message), (e.Path, e.Line, e.Message));
    }

    [Fact]
    public void Type_errors_name_the_expected_type()
    {
        var errors = Yaml.Errors("""
            apiVersion: weft.dev/v1
            kind: Service
            metadata: { name: [a], labels: x }
            spec: { ports: { port: 80 }, selector: { app: 3 } }
            """);
        Assert.Equal("expected string, got list", errors.At("metadata.name").Message);
        Assert.Equal("expected object, got string", errors.At("metadata.labels").Message);
        Assert.Equal("expected list, got object", errors.At("spec.ports").Message);
        Assert.Equal("expected string, got integer", errors.At("spec.selector[\"app\"]").Message);
    }

    [Fact]
    public void Document_that_is_not_an_object_is_an_error()
    {
        var e = Yaml.Error("- a\n- b\n");
        Assert.Equal(("", "expected object, got list"), (e.Path, e.Message));
    }

    [Fact]
    public void Missing_metadata_and_kind_are_reported()
    {
        var errors = Yaml.Errors("apiVersion: weft.dev/v1\nspec: {}\n");
        errors.At("kind");
        Assert.Single(errors);
        errors = Yaml.Errors("apiVersion: weft.dev/v1\nkind: Service\nspec: { ports: [{ port: 1 }] }\n");
        Assert.Equal("required field is missing", errors.At("metadata").Message);
    }

    [Fact]
    public void Server_written_metadata_and_status_are_ignored()
    {
        var svc = Yaml.Single<ServiceResource>("""
            apiVersion: weft.dev/v1
            kind: Service
            metadata: { name: web, uid: abc, resourceVersion: "7", generation: 2, creationTimestamp: "2026-01-01T00:00:00Z" }
            spec: { ports: [{ port: 80 }] }
            status: { conditions: [{ type: Accepted }] }
            """);
        Assert.Equal("web", svc.Metadata.Name);
    }

    [Theory]
    [InlineData("service", "Service")]
    [InlineData("Services", "Service")]
    [InlineData("SVC", "Service")]
    [InlineData("httproute", "HTTPRoute")]
    [InlineData("HTTPRoutes", "HTTPRoute")]
    [InlineData("httproutes.gateway.networking.k8s.io", "HTTPRoute")]
    [InlineData("grpcroute", "GRPCRoute")]
    [InlineData("grpcroutes", "GRPCRoute")]
    [InlineData("meshconfig", "MeshConfig")]
    [InlineData("MeshConfigs", "MeshConfig")]
    [InlineData("gateways", "Gateway")]
    [InlineData("authorizationpolicies", "AuthorizationPolicy")]
    [InlineData("ratelimitpolicies", "RateLimitPolicy")]
    [InlineData("pods", null)]
    [InlineData("", null)]
    public void ParseKind_maps_kubectl_style_names(string input, string? expected) =>
        Assert.Equal(expected, ResourceParser.ParseKind(input));

    [Fact]
    public void Marker_lines_with_comments_and_directives_make_no_document()
    {
        var result = ResourceParser.Parse($"%YAML 1.2\n--- # first\n{Service}\n--- # nothing here\n...\n", "f.yaml");
        Assert.True(result.Ok, string.Join("\n", result.Errors));
        Assert.Single(result.Resources);
    }

    [Fact]
    public void Never_throws_on_odd_input()
    {
        foreach (var text in new[] { "", "---", "...", "\t", "{", "[", ": :", "a: *anchor", "!!binary x", "? [a]\n: b", "apiVersion: 1\nkind: 2\n" })
        {
            var result = ResourceParser.Parse(text, "odd.yaml");
            Assert.Empty(result.Resources);
        }
    }
}
