using System.Text.Json;
using System.Text.Json.Serialization;
using Weft.Control.Store;

namespace Weft.Control.Ca;

/// <summary>Where a root rotation stands (docs/security.md, "Root rotation").</summary>
[JsonConverter(typeof(JsonStringEnumConverter<RotationPhase>))]
public enum RotationPhase
{
    /// <summary>No rotation under way (none ever, or the last one finished).</summary>
    [JsonStringEnumMemberName("none")] None,
    /// <summary>The new root is in the bundle; the CA still issues under the old one until every proxy has the bundle.</summary>
    [JsonStringEnumMemberName("distributing")] Distributing,
    /// <summary>The new intermediate's files are being put in place (a crash here is finished at the next start).</summary>
    [JsonStringEnumMemberName("switching")] Switching,
    /// <summary>The CA issues under the new root; proxies renew; the old root stays trusted while a live certificate chains to it.</summary>
    [JsonStringEnumMemberName("reissuing")] Reissuing,
}

/// <summary>
/// The rotation's state and the bundle's generation, in the CA folder (`rotation.json`), so a control
/// plane restarted part way goes on where it was.
/// </summary>
public sealed record RotationState(
    RotationPhase Phase,
    long Generation,
    string? OldRoot = null,
    string? NewRoot = null,
    DateTimeOffset? StartedAt = null,
    DateTimeOffset? SwitchedAt = null,
    DateTimeOffset? FinishedAt = null)
{
    public const string FileName = "rotation.json";

    /// <summary>The folder, inside the CA's, where the next root and intermediate wait until the switch.</summary>
    public const string NextFolder = "next";

    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase, WriteIndented = true };

    public static RotationState Load(string dir)
    {
        var path = Path.Combine(dir, FileName);
        if (!File.Exists(path))
            return new RotationState(RotationPhase.None, 1);
        try
        {
            return JsonSerializer.Deserialize<RotationState>(File.ReadAllText(path), Json)
                ?? throw new CaException($"{path}: empty");
        }
        catch (JsonException e)
        {
            throw new CaException($"{path}: not a rotation state ({e.Message})");
        }
    }

    public void Save(string dir) =>
        DurableFile.WriteAtomically(Path.Combine(dir, FileName), JsonSerializer.SerializeToUtf8Bytes(this, Json), DurableFile.OwnerOnly, replace: true);
}
