using Weft.Model.Resources;
using Weft.Protocol.Discovery;

namespace Weft.Control.Registry;

/// <summary>
/// One running instance of a service, as its proxy described itself when its discovery stream opened.
/// Translation turns these into endpoints. Value equality so re-registering the same instance is no change.
/// </summary>
public sealed record Workload(
    string InstanceId,
    string Service,
    string Version,
    string Namespace,
    EquatableMap Labels,         // the proxy's own labels plus app=<service> and version=<version>
    string Address,
    uint InboundPort,
    string Role,                 // sidecar | gateway
    string AppProtocol,
    bool Confirmed)              // false: restored from disk after a restart, its proxy not back yet
{
    public const string AppLabel = "app";
    public const string VersionLabel = "version";

    public static Workload FromNode(Node node)
    {
        var version = node.Version.Length == 0 ? "v1" : node.Version;
        var labels = new Dictionary<string, string>(node.Labels, StringComparer.Ordinal);
        // CONTRACT: every workload carries app/version so Services can select by them; its own labels win.
        labels.TryAdd(AppLabel, node.Service);
        labels.TryAdd(VersionLabel, version);
        return new Workload(
            node.Id,
            node.Service,
            version,
            node.Namespace.Length == 0 ? ObjectMeta.DefaultNamespace : node.Namespace,
            EquatableMap.From(labels),
            node.Address,
            node.InboundPort,
            node.Role == Weft.Protocol.Discovery.Role.Gateway ? "gateway" : "sidecar",
            node.AppProtocol.Length == 0 ? "http" : node.AppProtocol,
            Confirmed: true);
    }
}
