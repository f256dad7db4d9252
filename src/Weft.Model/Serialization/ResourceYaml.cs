using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Weft.Model.Resources;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Weft.Model.Serialization;

/// <summary>
/// A resource as YAML, for `weft get -o yaml`: the canonical JSON form re-emitted as block YAML, so
/// both outputs always agree and the YAML applies back unchanged.
/// </summary>
public static partial class ResourceYaml
{
    public static string Serialize(Resource resource)
    {
        var json = JsonNode.Parse(ResourceJson.Serialize(resource))!;
        return ToYaml(json);
    }

    /// <summary>Several resources as one multi-document YAML text.</summary>
    public static string Serialize(IEnumerable<Resource> resources) =>
        string.Join("---\n", resources.Select(Serialize));

    private static string ToYaml(JsonNode node)
    {
        var stream = new YamlStream(new YamlDocument(ToNode(node)));
        using var writer = new StringWriter(CultureInfo.InvariantCulture);
        stream.Save(writer, assignAnchors: false);
        var text = writer.ToString();
        // YamlStream ends every document with "...": not wanted in single-document output.
        return text.EndsWith("...\n", StringComparison.Ordinal) ? text[..^4] : text.EndsWith("...\r\n", StringComparison.Ordinal) ? text[..^5] : text;
    }

    private static YamlNode ToNode(JsonNode? node) => node switch
    {
        JsonObject o => new YamlMappingNode(o.Select(p => new KeyValuePair<YamlNode, YamlNode>(new YamlScalarNode(p.Key), ToNode(p.Value)))),
        JsonArray a => new YamlSequenceNode(a.Select(ToNode)),
        JsonValue v when v.TryGetValue<string>(out var s) => Scalar(s),
        JsonValue v => new YamlScalarNode(v.ToJsonString()) { Style = ScalarStyle.Plain },
        _ => new YamlScalarNode("null") { Style = ScalarStyle.Plain },
    };

    // A string that plain YAML would read as another type (number, boolean, null) or that is empty is quoted.
    private static YamlScalarNode Scalar(string s) =>
        s.Length == 0 || Ambiguous().IsMatch(s)
            ? new YamlScalarNode(s) { Style = ScalarStyle.DoubleQuoted }
            : new YamlScalarNode(s);

    [GeneratedRegex(@"^([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|0x[0-9a-fA-F]+|0o[0-7]+|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)|true|True|TRUE|false|False|FALSE|null|Null|NULL|~|y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF)$")]
    private static partial Regex Ambiguous();
}
