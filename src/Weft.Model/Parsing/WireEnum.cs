using System.Reflection;
using System.Text.Json.Serialization;

namespace Weft.Model.Parsing;

/// <summary>
/// The spelling of enum members on the wire (YAML and JSON). One source of truth: the
/// [JsonStringEnumMemberName] attribute when present, else the member name; the JSON serializer reads
/// the same attribute, so the parser and the serializer cannot disagree.
/// </summary>
internal static class WireEnum<T> where T : struct, Enum
{
    private static readonly (string Name, T Value)[] Members = typeof(T)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (f.GetCustomAttribute<JsonStringEnumMemberNameAttribute>()?.Name ?? f.Name, (T)f.GetValue(null)!))
        .ToArray();

    public static IEnumerable<string> Names => Members.Select(m => m.Name);

    /// <summary>Case-sensitive, as Kubernetes enums are.</summary>
    public static bool TryParse(string text, out T value)
    {
        foreach (var (name, v) in Members)
            if (name == text) { value = v; return true; }
        value = default;
        return false;
    }

    public static string Name(T value)
    {
        foreach (var (name, v) in Members)
            if (EqualityComparer<T>.Default.Equals(v, value)) return name;
        return value.ToString();
    }
}
