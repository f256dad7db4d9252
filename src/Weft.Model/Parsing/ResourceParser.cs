// TEMPORARY stand-in: replaced by the model branch
using System.Text.Json.Nodes;
using Weft.Model.Resources;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Weft.Model.Parsing;

/// <summary>Stand-in: reads apiVersion/kind/metadata and keeps spec as JSON; no spec validation.</summary>
public static class ResourceParser
{
    private static readonly string[] Kinds =
    [
        "Service", "HTTPRoute", "GRPCRoute", "Gateway", "DestinationPolicy", "RetryBudget",
        "FaultInjection", "RateLimitPolicy", "AuthorizationPolicy", "MeshConfig",
    ];

    public static string? ParseKind(string userKind)
    {
        foreach (var kind in Kinds)
        {
            var k = kind.ToLowerInvariant();
            var plural = k.EndsWith('y') ? k[..^1] + "ies" : k + "s";
            if (string.Equals(userKind, k, StringComparison.OrdinalIgnoreCase) ||
                string.Equals(userKind, plural, StringComparison.OrdinalIgnoreCase)) return kind;
        }
        return null;
    }

    public static ParseResult Parse(string yaml, string fileName)
    {
        var resources = new List<Resource>();
        var errors = new List<ValidationError>();
        var stream = new YamlStream();
        try { stream.Load(new StringReader(yaml)); }
        catch (YamlException e)
        {
            errors.Add(new(fileName, 0, (int)e.Start.Line, (int)e.Start.Column, "", e.Message));
            return new(resources, errors);
        }
        for (var doc = 0; doc < stream.Documents.Count; doc++)
        {
            if (stream.Documents[doc].RootNode is not YamlMappingNode root) continue;
            void Fail(YamlNode at, string path, string message) =>
                errors.Add(new(fileName, doc, (int)at.Start.Line, (int)at.Start.Column, path, message));
            var apiVersion = Scalar(root, "apiVersion");
            var kind = Scalar(root, "kind") is { } k ? Array.Find(Kinds, x => x == k) : null;
            var meta = Child(root, "metadata") as YamlMappingNode;
            var name = meta is null ? null : Scalar(meta, "name");
            if (apiVersion is null) Fail(root, "apiVersion", "required");
            if (kind is null) Fail(Child(root, "kind") ?? root, "kind", "unknown or missing kind");
            if (name is null) Fail(meta ?? (YamlNode)root, "metadata.name", "required");
            if (apiVersion is null || kind is null || name is null) continue;
            var ns = Scalar(meta!, "namespace") ?? ObjectMeta.DefaultNamespace;
            var labels = Child(meta!, "labels") is YamlMappingNode l
                ? EquatableMap.From(l.Children.Select(p => KeyValuePair.Create(((YamlScalarNode)p.Key).Value ?? "", ((YamlScalarNode)p.Value).Value ?? "")))
                : EquatableMap.Empty;
            var spec = Child(root, "spec") is { } s ? ToJson(s)!.ToJsonString() : "{}";
            resources.Add(new StandInResource(apiVersion, kind, new ObjectMeta(name, ns, labels), spec));
        }
        return new(resources, errors);
    }

    private static YamlNode? Child(YamlMappingNode map, string key) =>
        map.Children.TryGetValue(new YamlScalarNode(key), out var v) ? v : null;

    private static string? Scalar(YamlMappingNode map, string key) => (Child(map, key) as YamlScalarNode)?.Value;

    private static JsonNode? ToJson(YamlNode node) => node switch
    {
        YamlMappingNode m => new JsonObject(m.Children.Select(p => KeyValuePair.Create(((YamlScalarNode)p.Key).Value ?? "", ToJson(p.Value)))),
        YamlSequenceNode s => new JsonArray(s.Children.Select(ToJson).ToArray()),
        YamlScalarNode { Value: var v, Style: ScalarStyle.Plain } when long.TryParse(v, out var n) => JsonValue.Create(n),
        YamlScalarNode { Value: "true" or "false", Style: ScalarStyle.Plain } b => JsonValue.Create(b.Value == "true"),
        YamlScalarNode v => JsonValue.Create(v.Value),
        _ => null,
    };
}

/// <summary>Stand-in resource: spec kept as canonical JSON text so value equality still diffs.</summary>
public sealed record StandInResource(string ApiVersion, string Kind, ObjectMeta Metadata, string SpecJson)
    : Resource(ApiVersion, Kind, Metadata);
