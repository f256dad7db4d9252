using Weft.Protocol.Grpc;

namespace Weft.Protocol.Health;

/// <summary>The methods of grpc.health.v1.Health, for servers and for probes.</summary>
public static class HealthMethods
{
    public const string ServiceName = "grpc.health.v1.Health";

    public static readonly Method<HealthCheckRequest, HealthCheckResponse> Check = new(
        ServiceName, "Check", MethodType.Unary, HealthCheckRequest.Parser, HealthCheckResponse.Parser);

    public static readonly Method<HealthCheckRequest, HealthCheckResponse> Watch = new(
        ServiceName, "Watch", MethodType.ServerStreaming, HealthCheckRequest.Parser, HealthCheckResponse.Parser);
}
