using System.Collections.Immutable;
using Weft.Protocol.Discovery;

namespace Weft.Tests.Fakes;

/// <summary>Small discovery resources for tests; the content only needs to differ when a test says it does.</summary>
internal static class Resources
{
    public static Resource Cluster(string name, uint connectTimeoutMs = 1000) =>
        new() { Name = name, Cluster = new Cluster { Service = name, Namespace = "default", ConnectTimeoutMs = connectTimeoutMs } };

    public static Resource Endpoints(string cluster, params string[] addresses)
    {
        var endpoints = new ClusterEndpoints { Cluster = cluster };
        foreach (var a in addresses) endpoints.Endpoints.Add(new Endpoint { Address = a, Port = 15006, InstanceId = a });
        return new Resource { Name = cluster, Endpoints = endpoints };
    }

    public static ImmutableDictionary<string, Resource> Set(params Resource[] resources) =>
        resources.ToImmutableDictionary(ResourceKeys.Of, r => r, StringComparer.Ordinal);

    public static Node Node(string id, string service = "catalog", string version = "v1", string address = "127.0.0.1", uint inboundPort = 15006) =>
        new() { Id = id, Service = service, Version = version, Namespace = "default", Address = address, InboundPort = inboundPort, AdminUrl = "http://127.0.0.1:15000" };
}
