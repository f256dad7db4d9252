using System.Collections.Immutable;
using System.Text.Json;
using System.Text.Json.Nodes;
using Google.Protobuf;
using Weft.Control.Registry;
using Weft.Control.Store;
using Weft.Model.Parsing;
using Weft.Model.Resources;
using Pb = Weft.Protocol.Discovery;

namespace Weft.Control.Tests.Translate;

/// <summary>
/// Reads a golden case's inputs (config YAML, registry JSON, node JSON) and renders translated
/// resources as canonical JSON. Shared by the golden and unit tests so both see the same inputs.
/// </summary>
internal static class TranslationInputs
{
    // Defaults written out: an omitted enum zero (HTTP, INBOUND, PREFIX, SET) would hide exactly the
    // values a reviewer has to check.
    private static readonly JsonFormatter Formatter = new(JsonFormatter.Settings.Default.WithFormatDefaultValues(true));
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };
    private static readonly JsonSerializerOptions Web = new(JsonSerializerDefaults.Web) { ReadCommentHandling = JsonCommentHandling.Skip };

    /// <summary>The repository root: the first folder above the test binaries holding weft.sln.</summary>
    public static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "weft.sln"))) return dir.FullName;
        throw new InvalidOperationException($"no weft.sln above {AppContext.BaseDirectory}");
    }

    public static string GoldenFolder() => Path.Combine(RepoRoot(), "tests", "Weft.Control.Tests", "Translate", "Golden");

    public static ConfigSnapshot Config(string yaml, string fileName, long revision = 1)
    {
        var parsed = ResourceParser.Parse(yaml, fileName);
        // A case whose config does not parse would test the parser's rejection, not translation.
        Assert.True(parsed.Errors.Count == 0, string.Join("\n", parsed.Errors));
        return new ConfigSnapshot(revision, parsed.Resources.ToImmutableDictionary(r => r.Key));
    }

    /// <summary>
    /// registry.json: a list of workloads. Each becomes a Workload the way a proxy's Node does
    /// (Workload.FromNode), so app/version labels and defaults are the production ones;
    /// <c>confirmed: false</c> marks one restored from disk whose proxy has not reconnected.
    /// </summary>
    public static RegistrySnapshot Registry(string json, long generation = 1)
    {
        var entries = JsonSerializer.Deserialize<List<WorkloadEntry>>(json, Web) ?? [];
        var builder = ImmutableSortedDictionary.CreateBuilder<string, Workload>(StringComparer.Ordinal);
        foreach (var e in entries)
        {
            var node = new Pb.Node
            {
                Id = e.InstanceId, Service = e.Service, Version = e.Version ?? "", Namespace = e.Namespace ?? "",
                Address = e.Address ?? "127.0.0.1", InboundPort = e.InboundPort, AppProtocol = e.AppProtocol ?? "",
                Role = e.Role == "gateway" ? Pb.Role.Gateway : Pb.Role.Sidecar,
            };
            foreach (var (k, v) in e.Labels ?? []) node.Labels[k] = v;
            builder.Add(e.InstanceId, Workload.FromNode(node) with { Confirmed = e.Confirmed ?? true });
        }
        return new RegistrySnapshot(generation, builder.ToImmutable());
    }

    public static Pb.Node Node(string json) => JsonParser.Default.Parse<Pb.Node>(json);

    /// <summary>Resources as one JSON object, keys in ordinal order, indented, LF line ends.</summary>
    public static string Render(IReadOnlyDictionary<string, Pb.Resource> resources)
    {
        var root = new JsonObject();
        foreach (var key in resources.Keys.Order(StringComparer.Ordinal))
            root[key] = JsonNode.Parse(Formatter.Format(resources[key]));
        return root.ToJsonString(Indented).ReplaceLineEndings("\n") + "\n";
    }

    private sealed record WorkloadEntry(
        string InstanceId, string Service, string? Version, string? Namespace, Dictionary<string, string>? Labels,
        string? Address, uint InboundPort, string? Role, string? AppProtocol, bool? Confirmed);
}
