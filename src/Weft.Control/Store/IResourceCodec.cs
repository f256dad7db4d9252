using Weft.Model.Parsing;
using Weft.Model.Serialization;
using Weft.Model.Resources;

namespace Weft.Control.Store;

/// <summary>How resources are written into revision files. A seam so store tests can use their own resource types.</summary>
internal interface IResourceCodec
{
    string Serialize(Resource resource);
    Resource Deserialize(string json);
}

/// <summary>The canonical Kubernetes-shaped JSON of the model.</summary>
internal sealed class ResourceJsonCodec : IResourceCodec
{
    public static readonly ResourceJsonCodec Instance = new();
    public string Serialize(Resource resource) => ResourceJson.Serialize(resource);
    public Resource Deserialize(string json) => ResourceJson.Deserialize(json);
}
