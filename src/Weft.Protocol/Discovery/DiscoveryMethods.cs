using Weft.Protocol.Grpc;

namespace Weft.Protocol.Discovery;

/// <summary>The methods of weft.discovery.v1.Discovery, shared by the control plane and the proxies.</summary>
public static class DiscoveryMethods
{
    public static readonly Method<DiscoveryRequest, DiscoveryResponse> Stream = new(
        "weft.discovery.v1.Discovery", "Stream", MethodType.DuplexStreaming, DiscoveryRequest.Parser, DiscoveryResponse.Parser);

    public static readonly Method<CertifyRequest, CertifyResponse> Certify = new(
        "weft.discovery.v1.Discovery", "Certify", MethodType.Unary, CertifyRequest.Parser, CertifyResponse.Parser);
}
