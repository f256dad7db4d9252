using System.Globalization;
using System.Text.RegularExpressions;
using Weft.Model.Resources;
using YamlDotNet.RepresentationModel;

namespace Weft.Model.Parsing;

/// <summary>
/// A typed view of one YAML node that knows its field path and reports into an <see cref="ErrorSink"/>.
/// Every conversion either returns a value or records exactly one error and returns null, so binders
/// read straight through a document and collect every problem in one pass.
/// </summary>
internal sealed partial class NodeReader(YamlNode node, string path, ErrorSink sink)
{
    public YamlNode Node => node;
    public string Path => path;
    public ErrorSink Sink => sink;

    public void Error(string message) => sink.Add(node.Start, path, message);

    public static string Join(string parent, string field) => parent.Length == 0 ? field : parent + "." + field;

    /// <summary>`x:`, `x: ~` and `x: null` mean "not given", as in Kubernetes.</summary>
    public bool IsNull => node is YamlScalarNode { Style: YamlDotNet.Core.ScalarStyle.Plain or YamlDotNet.Core.ScalarStyle.Any } s
        && s.Value is null or "" or "~" or "null" or "Null" or "NULL";

    /// <summary>What the node holds, in the words an error message uses.</summary>
    public string Describe() => node switch
    {
        YamlMappingNode => "object",
        YamlSequenceNode => "list",
        YamlScalarNode s when s.Style is not (YamlDotNet.Core.ScalarStyle.Plain or YamlDotNet.Core.ScalarStyle.Any) => "string",
        YamlScalarNode when IsNull => "null",
        YamlScalarNode { Value: { } v } when IntegerPattern().IsMatch(v) => "integer",
        YamlScalarNode { Value: { } v } when FloatPattern().IsMatch(v) => "number",
        YamlScalarNode { Value: "true" or "false" or "True" or "False" or "TRUE" or "FALSE" } => "boolean",
        YamlScalarNode => "string",
        _ => "node",
    };

    /// <summary>
    /// A string. Strict by default (a plain `123` or `true` is not a string, as in Kubernetes);
    /// <paramref name="lenient"/> accepts any scalar, for hand-written lists such as a command line.
    /// </summary>
    public string? AsString(bool lenient = false)
    {
        if (node is YamlScalarNode s && !IsNull)
        {
            var what = Describe();
            if (lenient || what == "string") return s.Value ?? "";
        }
        Error($"expected string, got {Describe()}");
        return null;
    }

    public long? AsInteger()
    {
        if (node is YamlScalarNode { Value: { } v } && Describe() == "integer"
            && long.TryParse(v, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n))
            return n;
        Error($"expected integer, got {Describe()}");
        return null;
    }

    public int? AsInt(int min, int max)
    {
        var n = AsInteger();
        if (n is null) return null;
        if (n < min || n > max) { Error($"must be between {min} and {max}, got {n}"); return null; }
        return (int)n;
    }

    public double? AsNumber()
    {
        var what = Describe();
        if (node is YamlScalarNode { Value: { } v } && what is "integer" or "number"
            && double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d))
            return d;
        Error($"expected number, got {what}");
        return null;
    }

    public TEnum? AsEnum<TEnum>() where TEnum : struct, Enum
    {
        var s = AsString();
        if (s is null) return null;
        if (WireEnum<TEnum>.TryParse(s, out var value)) return value;
        Error($"unsupported value \"{s}\"{FieldSuggestion.Hint(s, WireEnum<TEnum>.Names)}; expected one of {string.Join(", ", WireEnum<TEnum>.Names)}");
        return null;
    }

    /// <summary>Gateway API Duration: 1-4 groups of 1-5 digits with h, m, s or ms ("10s", "500ms", "1h30m").</summary>
    public TimeSpan? AsDuration()
    {
        var s = AsString();
        if (s is null) return null;
        if (GatewayDuration.TryParse(s, out var d)) return d;
        Error($"invalid duration \"{s}\": expected a Gateway API duration like \"10s\", \"500ms\" or \"1h30m\"");
        return null;
    }

    /// <summary>An object whose only allowed fields are <paramref name="fields"/>; others are reported with a suggestion.</summary>
    public ObjectReader? AsObject(params string[] fields)
    {
        if (node is not YamlMappingNode map)
        {
            Error($"expected object, got {Describe()}");
            return null;
        }
        var result = new Dictionary<string, NodeReader>(StringComparer.Ordinal);
        foreach (var (keyNode, valueNode) in map.Children)
        {
            if (keyNode is not YamlScalarNode { Value: { } key })
            {
                sink.Add(keyNode.Start, path, "field names must be strings");
                continue;
            }
            if (Array.IndexOf(fields, key) < 0)
            {
                sink.Add(keyNode.Start, Join(path, key), "unknown field" + FieldSuggestion.Hint(key, fields));
                continue;
            }
            result[key] = new NodeReader(valueNode, Join(path, key), sink);
        }
        return new ObjectReader(this, result);
    }

    public IReadOnlyList<NodeReader>? AsList()
    {
        if (node is not YamlSequenceNode seq)
        {
            Error($"expected list, got {Describe()}");
            return null;
        }
        var items = new NodeReader[seq.Children.Count];
        for (var i = 0; i < items.Length; i++) items[i] = new NodeReader(seq.Children[i], $"{path}[{i}]", sink);
        return items;
    }

    /// <summary>
    /// A map of string to string. <paramref name="keyRule"/> and <paramref name="valueRule"/> return an error
    /// message or null; <paramref name="lenientValues"/> accepts numbers and booleans as values.
    /// </summary>
    public EquatableMap? AsStringMap(Func<string, string?>? keyRule = null, Func<string, string?>? valueRule = null, bool lenientValues = false)
    {
        if (node is not YamlMappingNode map)
        {
            Error($"expected object, got {Describe()}");
            return null;
        }
        var pairs = new List<KeyValuePair<string, string>>(map.Children.Count);
        foreach (var (keyNode, valueNode) in map.Children)
        {
            if (keyNode is not YamlScalarNode { Value: { } key })
            {
                sink.Add(keyNode.Start, path, "keys must be strings");
                continue;
            }
            var entryPath = $"{path}[\"{key}\"]";
            if (keyRule?.Invoke(key) is { } keyError) sink.Add(keyNode.Start, entryPath, $"invalid key: {keyError}");
            var value = new NodeReader(valueNode, entryPath, sink);
            var text = value.IsNull ? "" : value.AsString(lenientValues);
            if (text is null) continue;
            if (valueRule?.Invoke(text) is { } valueError) value.Error($"invalid value \"{text}\": {valueError}");
            pairs.Add(new(key, text));
        }
        return EquatableMap.From(pairs);
    }

    [GeneratedRegex(@"^[-+]?(0|[1-9][0-9]*)$")]
    private static partial Regex IntegerPattern();

    [GeneratedRegex(@"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")]
    private static partial Regex FloatPattern();
}
