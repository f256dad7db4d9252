namespace Weft.Control.Translate;

/// <summary>How clusters are named in the discovery protocol: one per Service, plus the local app.</summary>
public static class ClusterNames
{
    /// <summary>The sidecar's own app, behind its inbound listener.</summary>
    public const string InboundApp = "inbound/app";

    public static string ForService(string @namespace, string name) => @namespace + "/" + name;
}
