using Weft.Control.Ca;
using Weft.Control.Discovery;
using Weft.Protocol.Discovery;
using Weft.Protocol.Grpc;

namespace Weft.Tests.Fakes;

/// <summary>Admits every node as its own service account: for tests of the stream protocol, not of admission (NodeAdmissionTests).</summary>
internal sealed class AnyNode : INodeAdmission
{
    public static readonly AnyNode Instance = new();

    public ServiceAccountRef Admit(Node node, IServerCallContext call) =>
        new(node.Namespace.Length == 0 ? "default" : node.Namespace, node.Service);
}
