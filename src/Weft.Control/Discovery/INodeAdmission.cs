using Weft.Control.Ca;
using Weft.Protocol.Discovery;
using Weft.Protocol.Grpc;

namespace Weft.Control.Discovery;

/// <summary>Who may open a discovery stream, and as which node.</summary>
public interface INodeAdmission
{
    /// <summary>
    /// The service account the call proves, once <paramref name="node"/> is one that account may
    /// register; otherwise throws <see cref="RpcException"/> (Unauthenticated or PermissionDenied) with the reason.
    /// </summary>
    ServiceAccountRef Admit(Node node, IServerCallContext call);
}
