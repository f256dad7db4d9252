using System.Text.Json;
using System.Text.Json.Serialization;
using Weft.Model.Parsing;
using Weft.Model.Resources;

namespace Weft.Model.Serialization;

/// <summary>Maps keep their sorted key order, so output is deterministic.</summary>
internal sealed class EquatableMapConverter : JsonConverter<EquatableMap>
{
    public override EquatableMap Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        EquatableMap.From(JsonSerializer.Deserialize<Dictionary<string, string>>(ref reader, options) ?? []);

    public override void Write(Utf8JsonWriter writer, EquatableMap value, JsonSerializerOptions options)
    {
        writer.WriteStartObject();
        foreach (var (k, v) in value) writer.WriteString(k, v);
        writer.WriteEndObject();
    }
}

internal sealed class EquatableListConverterFactory : JsonConverterFactory
{
    public override bool CanConvert(Type typeToConvert) =>
        typeToConvert.IsGenericType && typeToConvert.GetGenericTypeDefinition() == typeof(EquatableList<>);

    public override JsonConverter CreateConverter(Type typeToConvert, JsonSerializerOptions options) =>
        (JsonConverter)Activator.CreateInstance(typeof(EquatableListConverter<>).MakeGenericType(typeToConvert.GetGenericArguments()[0]))!;

    private sealed class EquatableListConverter<T> : JsonConverter<EquatableList<T>>
    {
        public override EquatableList<T> Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            new(JsonSerializer.Deserialize<List<T>>(ref reader, options) ?? []);

        public override void Write(Utf8JsonWriter writer, EquatableList<T> value, JsonSerializerOptions options)
        {
            writer.WriteStartArray();
            foreach (var item in value) JsonSerializer.Serialize(writer, item, options);
            writer.WriteEndArray();
        }
    }
}

/// <summary>TimeSpan as a Gateway API Duration string ("1h30m"), the form users write.</summary>
internal sealed class GatewayDurationConverter : JsonConverter<TimeSpan>
{
    public override TimeSpan Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        GatewayDuration.TryParse(reader.GetString() ?? "", out var d) ? d : throw new JsonException("invalid duration");

    public override void Write(Utf8JsonWriter writer, TimeSpan value, JsonSerializerOptions options) =>
        writer.WriteStringValue(GatewayDuration.Format(value));
}
