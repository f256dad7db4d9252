namespace Weft.Protocol.Discovery;

/// <summary>A discovery resource's key, "&lt;type&gt;/&lt;name&gt;", as named in removed_resources.</summary>
public static class ResourceKeys
{
    public const string Listener = "listener";
    public const string Route = "route";
    public const string Cluster = "cluster";
    public const string Endpoints = "endpoints";
    public const string Settings = "settings";
    public const string TrustBundle = "trustbundle";

    /// <summary>The one TrustBundle resource every proxy gets.</summary>
    public const string TrustBundleName = "mesh";

    /// <summary>The one ProxySettings resource every proxy gets (from MeshConfig spec.proxy).</summary>
    public const string ProxySettingsName = "proxy";

    public static string TypeOf(Resource resource) => resource.KindCase switch
    {
        Resource.KindOneofCase.Listener => Listener,
        Resource.KindOneofCase.RouteTable => Route,
        Resource.KindOneofCase.Cluster => Cluster,
        Resource.KindOneofCase.Endpoints => Endpoints,
        Resource.KindOneofCase.Settings => Settings,
        Resource.KindOneofCase.TrustBundle => TrustBundle,
        _ => "unknown",
    };

    public static string Of(Resource resource) => TypeOf(resource) + "/" + resource.Name;
}
