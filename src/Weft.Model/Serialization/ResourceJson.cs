using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Weft.Model.Parsing;
using Weft.Model.Resources;

namespace Weft.Model.Serialization;

/// <summary>
/// The canonical, Kubernetes-shaped JSON of a resource (apiVersion, kind, metadata, spec): what the
/// config store persists and the HTTP API returns. Output is deterministic (fixed member order,
/// sorted maps, defaults written out), and Deserialize(Serialize(r)) equals r.
/// </summary>
public static class ResourceJson
{
    private static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        // Not embedded in HTML; keep regexes and header values readable.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Converters = { new EquatableMapConverter(), new EquatableListConverterFactory(), new GatewayDurationConverter() },
        TypeInfoResolver = new DefaultJsonTypeInfoResolver { Modifiers = { OmitEmptyLists } },
    };

    // An empty list reads back the same as an absent one (the parser fills list defaults), so leaving
    // it out keeps `weft get` output close to what the user wrote. Maps are kept: an empty selector
    // is not the same as an absent one.
    private static void OmitEmptyLists(JsonTypeInfo info)
    {
        foreach (var property in info.Properties)
            if (property.PropertyType.IsGenericType && property.PropertyType.GetGenericTypeDefinition() == typeof(EquatableList<>))
                property.ShouldSerialize = static (_, value) => value is System.Collections.IEnumerable items && items.GetEnumerator().MoveNext();
    }

    public static string Serialize(Resource resource, bool indented = false)
    {
        ArgumentNullException.ThrowIfNull(resource);
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = indented, Encoder = Options.Encoder }))
        {
            writer.WriteStartObject();
            writer.WriteString("apiVersion", resource.ApiVersion);
            writer.WriteString("kind", resource.Kind);
            writer.WritePropertyName("metadata");
            WriteMetadata(writer, resource.Metadata);
            writer.WritePropertyName("spec");
            JsonSerializer.Serialize(writer, Spec(resource), Spec(resource).GetType(), Options);
            writer.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>Reads a resource back; the JSON goes through the same validation as YAML (JSON is YAML).</summary>
    /// <exception cref="FormatException">The text is not exactly one valid resource; the message lists every error.</exception>
    public static Resource Deserialize(string json)
    {
        var result = ResourceParser.Parse(json, "<json>");
        if (!result.Ok) throw new FormatException("invalid resource JSON:\n" + string.Join("\n", result.Errors));
        return result.Resources.Count == 1 ? result.Resources[0]
            : throw new FormatException($"expected one resource, found {result.Resources.Count}");
    }

    private static object Spec(Resource resource) => resource switch
    {
        ServiceResource r => r.Spec,
        HttpRouteResource r => r.Spec,
        GrpcRouteResource r => r.Spec,
        MeshConfigResource r => r.Spec,
        AuthorizationPolicyResource r => r.Spec,
        _ => throw new NotSupportedException($"no JSON form for {resource.GetType().Name}"),
    };

    private static void WriteMetadata(Utf8JsonWriter writer, ObjectMeta meta)
    {
        writer.WriteStartObject();
        writer.WriteString("name", meta.Name);
        writer.WriteString("namespace", meta.Namespace);
        WriteMap(writer, "labels", meta.Labels);
        WriteMap(writer, "annotations", meta.Annotations);
        writer.WriteEndObject();
    }

    private static void WriteMap(Utf8JsonWriter writer, string name, EquatableMap map)
    {
        if (map.Count == 0) return;
        writer.WritePropertyName(name);
        JsonSerializer.Serialize(writer, map, Options);
    }
}
