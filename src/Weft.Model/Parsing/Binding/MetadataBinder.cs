using Weft.Model.Resources;

namespace Weft.Model.Parsing.Binding;

/// <summary>Binds `metadata`, checking the name with the rule Kubernetes uses for the kind.</summary>
internal static class MetadataBinder
{
    // Fields a server writes: accepted (so `kubectl get -o yaml` output applies as is) and dropped.
    private static readonly string[] Fields =
        ["name", "namespace", "labels", "annotations", "uid", "resourceVersion", "generation", "creationTimestamp", "managedFields"];

    /// <param name="meshScopedKind">Set for mesh-wide kinds, whose namespace may only be the default one.</param>
    public static ObjectMeta Bind(ObjectReader root, Func<string, string?> nameRule, string? meshScopedKind = null)
    {
        var meta = root.Field("metadata")?.AsObject(Fields);
        if (meta is null)
        {
            if (!root.Has("metadata")) root.Error("metadata", "required field is missing");
            return new ObjectMeta("", ObjectMeta.DefaultNamespace, EquatableMap.Empty);
        }
        var name = meta.RequiredString("name");
        if (name.Length > 0 && nameRule(name) is { } nameError) meta.Error("name", $"invalid name \"{name}\": {nameError}");

        var ns = meta.String("namespace") ?? ObjectMeta.DefaultNamespace;
        if (KubernetesNames.Dns1123Label(ns) is { } nsError) meta.Error("namespace", $"invalid namespace \"{ns}\": {nsError}");
        else if (meshScopedKind is not null && ns != ObjectMeta.DefaultNamespace)
            meta.Error("namespace", $"{meshScopedKind} is mesh-wide: omit namespace or use \"{ObjectMeta.DefaultNamespace}\"");

        var labels = meta.Map("labels", KubernetesNames.QualifiedName, KubernetesNames.LabelValue);
        var annotations = meta.Map("annotations", KubernetesNames.QualifiedName);
        return new ObjectMeta(name, ns, labels) { Annotations = annotations };
    }
}
