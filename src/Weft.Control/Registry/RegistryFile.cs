using System.Text.Json;
using System.Text.Json.Serialization;
using Weft.Model.Resources;

namespace Weft.Control.Registry;

/// <summary>
/// registry.json: the last known workloads, so a restarted control plane does not hand proxies configs
/// with missing endpoints while they reconnect. Best-effort by design: the registry is rebuilt from
/// live streams anyway, so a failed read or write only costs that head start.
/// </summary>
internal sealed class RegistryFile(string path)
{
    public const string FileName = "registry.json";

    public string Path { get; } = path;

    public IReadOnlyList<Workload> Load()
    {
        if (!File.Exists(Path)) return [];
        using var stream = File.OpenRead(Path);
        var doc = JsonSerializer.Deserialize(stream, RegistryJsonContext.Default.RegistryDocument);
        if (doc?.Workloads is null) return [];
        var result = new List<Workload>(doc.Workloads.Count);
        foreach (var w in doc.Workloads)
        {
            if (string.IsNullOrEmpty(w.InstanceId)) continue;
            result.Add(new Workload(w.InstanceId, w.Service ?? "", w.Version ?? "", w.Namespace ?? "",
                EquatableMap.From(w.Labels ?? []), w.Address ?? "", w.InboundPort, w.Role ?? "sidecar",
                w.AppProtocol ?? "http", Confirmed: false));
        }
        return result;
    }

    /// <summary>Writes to a temporary file then renames it over the old one, so a kill -9 leaves either version whole.</summary>
    public void Save(RegistrySnapshot snapshot)
    {
        var doc = new RegistryDocument(snapshot.Generation, [.. snapshot.Workloads.Values.Select(w => new WorkloadRecord(
            w.InstanceId, w.Service, w.Version, w.Namespace, w.Labels.ToDictionary(StringComparer.Ordinal),
            w.Address, w.InboundPort, w.Role, w.AppProtocol))]);
        var dir = System.IO.Path.GetDirectoryName(Path);
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        var tmp = Path + ".tmp";
        using (var stream = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            JsonSerializer.Serialize(stream, doc, RegistryJsonContext.Default.RegistryDocument);
            stream.Flush(flushToDisk: true);
        }
        File.Move(tmp, Path, overwrite: true);
    }
}

internal sealed record RegistryDocument(long Generation, List<WorkloadRecord>? Workloads);

internal sealed record WorkloadRecord(
    string? InstanceId, string? Service, string? Version, string? Namespace, Dictionary<string, string>? Labels,
    string? Address, uint InboundPort, string? Role, string? AppProtocol);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(RegistryDocument))]
internal sealed partial class RegistryJsonContext : JsonSerializerContext;
