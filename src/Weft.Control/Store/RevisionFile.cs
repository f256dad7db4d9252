using System.Buffers;
using System.Collections.Immutable;
using System.Globalization;
using System.Text.Json;
using Weft.Model.Resources;

namespace Weft.Control.Store;

/// <summary>
/// One revision on disk: metadata plus the full resource set (configs are small, and a full set makes
/// every revision self-contained: load and rollback read one file, nothing is replayed).
/// </summary>
internal static class RevisionFile
{
    private const string Extension = ".json";

    public static string PathFor(string dir, long revision) =>
        System.IO.Path.Combine(dir, revision.ToString("D10", CultureInfo.InvariantCulture) + Extension);

    /// <summary>Revision numbers of the complete files in <paramref name="dir"/>; temp files are not revisions.</summary>
    public static List<long> List(string dir)
    {
        var revisions = new List<long>();
        foreach (var file in Directory.EnumerateFiles(dir, "*" + Extension))
        {
            var name = System.IO.Path.GetFileNameWithoutExtension(file);
            if (long.TryParse(name, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0) revisions.Add(n);
        }
        revisions.Sort();
        return revisions;
    }

    public static byte[] Encode(RevisionInfo info, IEnumerable<Resource> resources, IResourceCodec codec)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteNumber("revision", info.Revision);
            w.WriteString("time", info.Time);
            w.WriteString("cause", info.Cause);
            w.WriteStartArray("changes");
            foreach (var c in info.Changes)
            {
                w.WriteStartObject();
                w.WriteString("apiVersion", c.ApiVersion);
                w.WriteString("kind", c.Key.Kind);
                w.WriteString("namespace", c.Key.Namespace);
                w.WriteString("name", c.Key.Name);
                w.WriteString("action", c.Action.ToDisplayName());
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("resources");
            foreach (var r in resources) w.WriteRawValue(codec.Serialize(r));
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>
    /// Reads one revision; its resources only when <paramref name="withResources"/>, since at start-up
    /// every older revision is needed for its history entry alone.
    /// </summary>
    public static (RevisionInfo Info, ImmutableDictionary<ResourceKey, Resource>? Resources) Read(
        string path, long expectedRevision, IResourceCodec codec, bool withResources)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            var root = doc.RootElement;
            var changes = root.GetProperty("changes").EnumerateArray().Select(c => new ResourceChange(
                c.GetProperty("apiVersion").GetString()!,
                new ResourceKey(c.GetProperty("kind").GetString()!, c.GetProperty("namespace").GetString()!, c.GetProperty("name").GetString()!),
                ParseAction(c.GetProperty("action").GetString()!))).ToList();
            var resourceArray = root.GetProperty("resources");
            var info = new RevisionInfo(
                root.GetProperty("revision").GetInt64(), root.GetProperty("time").GetDateTimeOffset(),
                root.GetProperty("cause").GetString()!, changes, resourceArray.GetArrayLength());
            if (info.Revision != expectedRevision)
                throw new FormatException($"it holds revision {info.Revision}, its name says {expectedRevision}");
            if (!withResources) return (info, null);

            var resources = ImmutableDictionary.CreateBuilder<ResourceKey, Resource>();
            foreach (var r in resourceArray.EnumerateArray())
            {
                var resource = codec.Deserialize(r.GetRawText());
                resources[resource.Key] = resource;
            }
            return (info, resources.ToImmutable());
        }
        catch (Exception e) when (e is not (IOException or UnauthorizedAccessException or OutOfMemoryException))
        {
            // Files are renamed into place only once complete, so this is damage, not a crash mid-write:
            // refuse to start rather than silently serve an older config. The codec's own errors land here too.
            throw new InvalidDataException($"config store: revision file {path} is unreadable: {e.Message}", e);
        }
    }

    private static ChangeAction ParseAction(string name) => name switch
    {
        "created" => ChangeAction.Created,
        "configured" => ChangeAction.Configured,
        "unchanged" => ChangeAction.Unchanged,
        "deleted" => ChangeAction.Deleted,
        _ => throw new FormatException($"unknown action '{name}'"),
    };
}
