// TEMPORARY stand-in: replaced by the model branch
using System.Text.Json.Nodes;
using Weft.Model.Resources;

namespace Weft.Model.Parsing;

/// <summary>Stand-in: Kubernetes-shaped JSON for <see cref="StandInResource"/> only.</summary>
public static class ResourceJson
{
    public static string Serialize(Resource resource)
    {
        var r = (StandInResource)resource;
        var meta = new JsonObject { ["name"] = r.Metadata.Name, ["namespace"] = r.Metadata.Namespace };
        if (r.Metadata.Labels.Count > 0)
            meta["labels"] = new JsonObject(r.Metadata.Labels.Select(p => KeyValuePair.Create(p.Key, (JsonNode?)p.Value)));
        return new JsonObject
        {
            ["apiVersion"] = r.ApiVersion, ["kind"] = r.Kind, ["metadata"] = meta, ["spec"] = JsonNode.Parse(r.SpecJson),
        }.ToJsonString();
    }

    public static Resource Deserialize(string json)
    {
        var o = JsonNode.Parse(json)!.AsObject();
        var meta = o["metadata"]!.AsObject();
        var labels = meta["labels"] is JsonObject l
            ? EquatableMap.From(l.Select(p => KeyValuePair.Create(p.Key, p.Value!.GetValue<string>())))
            : EquatableMap.Empty;
        return new StandInResource(
            o["apiVersion"]!.GetValue<string>(), o["kind"]!.GetValue<string>(),
            new ObjectMeta(meta["name"]!.GetValue<string>(), meta["namespace"]!.GetValue<string>(), labels),
            o["spec"]?.ToJsonString() ?? "{}");
    }
}
