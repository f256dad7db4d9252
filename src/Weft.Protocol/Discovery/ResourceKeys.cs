namespace Weft.Protocol.Discovery;

/// <summary>A discovery resource's key, "&lt;type&gt;/&lt;name&gt;", as named in removed_resources.</summary>
public static class ResourceKeys
{
    public const string Listener = "listener";
    public const string Route = "route";
    public const string Cluster = "cluster";
    public const string Endpoints = "endpoints";

    public static string TypeOf(Resource resource) => resource.KindCase switch
    {
        Resource.KindOneofCase.Listener => Listener,
        Resource.KindOneofCase.RouteTable => Route,
        Resource.KindOneofCase.Cluster => Cluster,
        Resource.KindOneofCase.Endpoints => Endpoints,
        _ => "unknown",
    };

    public static string Of(Resource resource) => TypeOf(resource) + "/" + resource.Name;
}
