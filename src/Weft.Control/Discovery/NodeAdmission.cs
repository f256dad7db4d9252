using System.Net;
using Weft.Control.Ca;
using Weft.Control.Registry;
using Weft.Model.Resources;
using Weft.Protocol.Discovery;
using Weft.Protocol.Grpc;

namespace Weft.Control.Discovery;

/// <summary>
/// The control plane's rules for a discovery stream (docs/security.md, "Discovery"): the proxy proves a
/// service account (its certificate, or its bootstrap token until it holds one), and registers only that account's service, in its
/// namespace, at the address it connects from. So a proxy can neither claim another service's
/// endpoints nor point one at an address of its choosing; and since the config it receives is its own
/// node's, it receives only its own config.
/// </summary>
public sealed class NodeAdmission(CallerAuthentication callers) : INodeAdmission
{
    public ServiceAccountRef Admit(Node node, IServerCallContext call)
    {
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(call);
        var account = callers.Authenticate(call, "a discovery stream");
        if (Refusal(node, account, call.Peer) is { } reason)
            throw new RpcException(StatusCode.PermissionDenied, reason);
        return account;
    }

    /// <summary>Why <paramref name="account"/>, connecting from <paramref name="peer"/> ("ip:port"), may not register <paramref name="node"/>; null when it may.</summary>
    public static string? Refusal(Node node, ServiceAccountRef account, string peer)
    {
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(account);
        var ns = node.Namespace.Length == 0 ? ObjectMeta.DefaultNamespace : node.Namespace;
        if (ns != account.Namespace || node.Service != account.Name)
            return $"node {node.Id} claims service {ns}/{node.Service}, but its token proves service account {account}: a proxy registers only its own service account's service";
        // Without a Service resource a service selects {app: <name>}: an app label naming another
        // service would join that service's endpoints.
        if (node.Labels.TryGetValue(Workload.AppLabel, out var app) && app != node.Service)
            return $"node {node.Id} of service {node.Service} has label {Workload.AppLabel}={app}: the {Workload.AppLabel} label is the service's own name";
        if (!IPEndPoint.TryParse(peer, out var from))
            return $"node {node.Id}: the stream's source address is unknown ({(peer.Length == 0 ? "none" : peer)})";
        if (!IPAddress.TryParse(node.Address, out var claimed) || !Canonical(claimed).Equals(Canonical(from.Address)))
            return $"node {node.Id} claims address {node.Address}, but its stream comes from {Canonical(from.Address)}: a proxy registers only the address it connects from";
        return null;
    }

    private static IPAddress Canonical(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
}
