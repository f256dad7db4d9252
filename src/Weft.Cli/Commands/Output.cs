using System.CommandLine;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Weft.Control.Api;
using YamlDotNet.Serialization;

namespace Weft.Cli.Commands;

internal enum OutputFormat { Table, Json, Yaml }

/// <summary>How list-style commands print: aligned plain-text tables, JSON, or YAML (CONTRACT: -o table|json|yaml).</summary>
internal static class Output
{
    /// <summary>A moment as the commands print it: <c>2026-12-08 19:59Z</c>.</summary>
    public static string Minute(DateTimeOffset value) =>
        value.UtcDateTime.ToString("yyyy-MM-dd HH:mm'Z'", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>A span in its two largest units: <c>9d23h</c>, <c>23h59m</c>, <c>4m05s</c>.</summary>
    public static string Span(TimeSpan span) =>
        span.TotalDays >= 1 ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{(int)span.TotalDays}d{span.Hours}h")
        : span.TotalHours >= 1 ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{(int)span.TotalHours}h{span.Minutes:00}m")
        : string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{(int)span.TotalMinutes}m{span.Seconds:00}s");

    /// <summary>A certificate's SHA-256 cut to its first 16 hex digits (enough to tell roots apart); <c>-</c> for none.</summary>
    public static string ShortHash(string? sha256) => sha256 is { Length: >= 16 } s ? s[..16] : sha256 ?? "-";

    public static Option<OutputFormat> CreateOption() => new("--output", "-o")
    {
        Description = "Output format: table, json or yaml",
        DefaultValueFactory = _ => OutputFormat.Table,
        HelpName = "table|json|yaml",
    };

    /// <summary>JSON or YAML of <paramref name="node"/>; tables are each command's own.</summary>
    public static void WriteDocument(TextWriter output, JsonNode? node, OutputFormat format)
    {
        if (format == OutputFormat.Yaml)
        {
            output.Write(new SerializerBuilder().WithQuotingNecessaryStrings().Build().Serialize(ToPlain(node)));
            return;
        }
        output.WriteLine(node?.ToJsonString(ApiJson.Options) ?? "null");
    }

    public static void WriteDocument<T>(TextWriter output, T value, OutputFormat format) =>
        WriteDocument(output, JsonSerializer.SerializeToNode(value, ApiJson.Options), format);

    /// <summary>Columns padded to their widest cell, two spaces apart, like kubectl.</summary>
    public static void WriteTable(TextWriter output, IReadOnlyList<string> headers, IEnumerable<IReadOnlyList<string>> rows)
    {
        var all = new List<IReadOnlyList<string>> { headers };
        all.AddRange(rows);
        var widths = new int[headers.Count];
        foreach (var row in all)
            for (var i = 0; i < widths.Length; i++) widths[i] = Math.Max(widths[i], row[i].Length);
        var line = new StringBuilder();
        foreach (var row in all)
        {
            line.Clear();
            for (var i = 0; i < widths.Length; i++)
            {
                if (i == widths.Length - 1) line.Append(row[i]);
                else line.Append(row[i].PadRight(widths[i] + 2));
            }
            output.WriteLine(line.ToString().TrimEnd());
        }
    }

    /// <summary>kubectl's name for a resource: <c>httproute.gateway.networking.k8s.io/catalog</c>.</summary>
    public static string ResourceName(string apiVersion, string kind, string name)
    {
        var slash = apiVersion.IndexOf('/', StringComparison.Ordinal);
        var group = slash < 0 ? "" : "." + apiVersion[..slash];
        return $"{kind.ToLowerInvariant()}{group}/{name}";
    }

    /// <summary>Prints what a change did, kubectl-style, then the revision it made (or why it made none).</summary>
    public static void WriteChanges(TextWriter output, ChangeResponse result)
    {
        var suffix = result.DryRun ? " (dry run)" : "";
        foreach (var c in result.Changes)
            output.WriteLine($"{ResourceName(c.ApiVersion, c.Kind, c.Name)} {c.Action}{suffix}");
        output.WriteLine(result.DryRun ? $"revision {result.Revision} (dry run: nothing stored)"
            : result.NewRevision ? $"revision {result.Revision}"
            : $"revision {result.Revision} (no change: no new revision)");
    }

    private static object? ToPlain(JsonNode? node) => node switch
    {
        null => null,
        JsonObject o => o.ToDictionary(p => p.Key, p => ToPlain(p.Value)),
        JsonArray a => a.Select(ToPlain).ToList(),
        JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
        JsonValue v when v.GetValueKind() is JsonValueKind.True or JsonValueKind.False => v.GetValue<bool>(),
        JsonValue v when v.TryGetValue<long>(out var l) => l,
        JsonValue v => v.GetValue<double>(),
        _ => node.ToJsonString(),
    };
}
