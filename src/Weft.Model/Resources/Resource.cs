namespace Weft.Model.Resources;

/// <summary>Identifies one resource in the config store. Kind is the canonical kind (e.g. "HTTPRoute").</summary>
public readonly record struct ResourceKey(string Kind, string Namespace, string Name)
{
    public override string ToString() => $"{Kind}/{Namespace}/{Name}";
}

/// <summary>metadata of a Kubernetes-style resource. Labels compare by value.</summary>
public sealed record ObjectMeta(string Name, string Namespace, EquatableMap Labels)
{
    public const string DefaultNamespace = "default";

    /// <summary>Free-form notes for tools and people; carried and stored, never interpreted.</summary>
    public EquatableMap Annotations { get; init; } = EquatableMap.Empty;
}

/// <summary>
/// A validated config resource. Immutable, with value equality so revisions can be diffed.
/// Subclasses: ServiceResource, HttpRouteResource, GrpcRouteResource, MeshConfigResource (more arrive with their issues).
/// </summary>
public abstract record Resource(string ApiVersion, string Kind, ObjectMeta Metadata)
{
    public ResourceKey Key => new(Kind, Metadata.Namespace, Metadata.Name);
}
