using Weft.Model.Parsing.Binding;
using Weft.Model.Resources;
using YamlDotNet.RepresentationModel;

namespace Weft.Model.Parsing;

/// <summary>
/// Reads Kubernetes-style YAML (one or many documents) into validated resources. Never throws on bad
/// input: every problem of every document comes back in <see cref="ParseResult.Errors"/>, located by
/// file, document, line, column and field path. Only documents without errors yield a resource.
/// </summary>
public static class ResourceParser
{
    private sealed record KindBinding(Func<string, string?> NameRule, string[] SpecFields, bool SpecRequired, Func<ObjectReader, ObjectMeta, Resource> Bind)
    {
        /// <summary>Mesh-wide kinds live in the default namespace only, so "only one" stays true.</summary>
        public bool MeshScoped { get; init; }
    }

    private static readonly string[] RouteSpecFields = ["parentRefs", "hostnames", "rules"];

    // One line per kind: how its name is checked, its spec fields, and its binder. Name rules are Kubernetes' own:
    // Services are DNS-1035 labels, routes and policies DNS-1123 subdomains.
    private static readonly Dictionary<string, KindBinding> Kinds = new(StringComparer.Ordinal)
    {
        [ResourceKinds.Service] = new(KubernetesNames.Dns1035Label, ["ports", "selector"], true, (s, m) => new ServiceResource(m, ServiceBinder.Bind(s, m))),
        [ResourceKinds.HttpRoute] = new(KubernetesNames.Dns1123Subdomain, RouteSpecFields, true, (s, m) => new HttpRouteResource(m, HttpRouteBinder.Bind(s, m))),
        [ResourceKinds.GrpcRoute] = new(KubernetesNames.Dns1123Subdomain, RouteSpecFields, true, (s, m) => new GrpcRouteResource(m, GrpcRouteBinder.Bind(s, m))),
        [ResourceKinds.MeshConfig] = new(MeshConfigName, ["trustDomain", "mtls", "certificates", "tracing", "accessLog", "proxy"], false, (s, m) => new MeshConfigResource(m, MeshConfigBinder.Bind(s, m))) { MeshScoped = true },
        [ResourceKinds.AuthorizationPolicy] = new(KubernetesNames.Dns1123Subdomain, ["targetRef", "action", "rules"], true, (s, m) => new AuthorizationPolicyResource(m, AuthorizationPolicyBinder.Bind(s))),
    };

    private static readonly string[] TopLevelFields = ["apiVersion", "kind", "metadata", "spec", "status"];

    /// <summary>Parses every document of <paramref name="yamlText"/>; <paramref name="fileName"/> is only used in errors.</summary>
    /// <param name="budget">What the read may still spend, shared by every file of one apply; null: this text alone.</param>
    public static ParseResult Parse(string yamlText, string fileName, YamlBudget? budget = null)
    {
        ArgumentNullException.ThrowIfNull(yamlText);
        var sink = new ErrorSink(fileName);
        var resources = new List<Resource>();
        var firstSeen = new Dictionary<ResourceKey, (int Document, int Line)>();
        foreach (var (index, root, lineOffset) in YamlDocuments.Load(yamlText, sink, budget))
        {
            sink.Document = index;
            sink.LineOffset = lineOffset;
            var before = sink.Count;
            var resource = ParseDocument(new NodeReader(root, "", sink));
            if (resource is null || sink.Count != before) continue;
            if (firstSeen.TryGetValue(resource.Key, out var first))
            {
                var at = NameNode(root);
                sink.Add(at.Start, "metadata.name",
                    $"duplicate {resource.Kind} \"{resource.Metadata.Namespace}/{resource.Metadata.Name}\": already defined in document {first.Document} (line {first.Line})");
                continue;
            }
            firstSeen[resource.Key] = (index, sink.LineOf(NameNode(root).Start));
            resources.Add(resource);
        }
        // Reading order is field order, not line order; users read errors top to bottom.
        var errors = sink.Errors.OrderBy(e => e.Document).ThenBy(e => e.Line).ThenBy(e => e.Column).ToList();
        if (sink.DroppedNotice is { } notice) errors.Add(notice);
        return new ParseResult(resources, errors);
    }

    /// <summary>kubectl-style kind name (any case, singular, plural or short, e.g. "svc") to the canonical kind; null if unknown.</summary>
    public static string? ParseKind(string userKind) => ResourceKinds.Parse(userKind);

    private static Resource? ParseDocument(NodeReader root)
    {
        var doc = root.AsObject(TopLevelFields);
        if (doc is null) return null;
        var kind = doc.RequiredString("kind");
        var apiVersion = doc.RequiredString("apiVersion");
        if (kind.Length == 0) return null;
        if (ResourceKinds.IsReserved(kind))
        {
            doc.Error("kind", $"kind {kind} is reserved and not supported yet");
            return null;
        }
        if (!Kinds.TryGetValue(kind, out var binding))
        {
            var known = ResourceKinds.Supported.Concat(ResourceKinds.Reserved);
            doc.Error("kind", $"unknown kind \"{kind}\"{FieldSuggestion.Hint(kind, known)}; known kinds: {string.Join(", ", ResourceKinds.Supported)}");
            return null;
        }
        var expectedVersion = ResourceKinds.ApiVersionOf(kind);
        if (apiVersion.Length > 0 && apiVersion != expectedVersion)
            doc.Error("apiVersion", $"kind {kind} has apiVersion {expectedVersion}, not {apiVersion}");

        // `status` is written by the control plane; input may carry it (e.g. `weft get -o yaml` output) and it is ignored.
        var meta = MetadataBinder.Bind(doc, binding.NameRule, binding.MeshScoped ? kind : null);
        var spec = doc.Field("spec") is { } specNode ? specNode.AsObject(binding.SpecFields) : null;
        if (spec is null)
        {
            if (doc.Has("spec")) return null; // not an object: already reported
            if (binding.SpecRequired) doc.Error("spec", "required field is missing");
            spec = new ObjectReader(new NodeReader(root.Node, "spec", root.Sink), new Dictionary<string, NodeReader>());
        }
        return binding.Bind(spec, meta);
    }

    private static YamlNode NameNode(YamlNode root) =>
        root is YamlMappingNode doc && doc.Children.TryGetValue("metadata", out var meta)
        && meta is YamlMappingNode metaMap && metaMap.Children.TryGetValue("name", out var name) ? name : root;

    private static string? MeshConfigName(string name) =>
        name == MeshConfigResource.RequiredName ? null : $"only one MeshConfig may exist and it must be named \"{MeshConfigResource.RequiredName}\"";
}
