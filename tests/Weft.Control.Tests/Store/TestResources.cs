using System.Text.Json;
using Weft.Control.Store;
using Weft.Model.Resources;

namespace Weft.Control.Tests.Store;

/// <summary>A hand-built resource so store tests do not depend on the model's parser or its kinds.</summary>
internal sealed record TestResource(string Kind, ObjectMeta Metadata, string Value) : Resource("test.weft.dev/v1", Kind, Metadata)
{
    public static TestResource Of(string name, string value = "a", string kind = "Widget", string ns = "default") =>
        new(kind, new ObjectMeta(name, ns, EquatableMap.Empty), value);
}

internal sealed class TestCodec : IResourceCodec
{
    public static readonly TestCodec Instance = new();

    private sealed record Dto(string Kind, string Namespace, string Name, string Value);

    public string Serialize(Resource resource)
    {
        var r = (TestResource)resource;
        return JsonSerializer.Serialize(new Dto(r.Kind, r.Metadata.Namespace, r.Metadata.Name, r.Value));
    }

    public Resource Deserialize(string json)
    {
        var d = JsonSerializer.Deserialize<Dto>(json)!;
        return TestResource.Of(d.Name, d.Value, d.Kind, d.Namespace);
    }
}

/// <summary>A fresh data directory per test, removed afterwards.</summary>
internal sealed class TempDir : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "weft-store-" + Guid.NewGuid().ToString("N"));

    public TempDir() => Directory.CreateDirectory(Path);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}
