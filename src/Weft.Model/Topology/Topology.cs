using Weft.Model.Resources;

namespace Weft.Model.Topology;

/// <summary>The topology file of `weft up` (CONTRACT.md): what runs on this machine.</summary>
public sealed record Topology(
    string Name,
    string Directory,                     // the topology file's folder; relative paths resolve here
    IReadOnlyList<string> ConfigFiles,    // absolute paths of spec.config entries
    IReadOnlyList<Workload> Workloads,
    IngressSpec? Ingress);

public sealed record Workload(
    string Name,
    string Service,
    string Version,
    string Namespace,
    EquatableMap Labels,                  // the workload's own labels plus app=<service>, version=<version>
    int Replicas,
    string Protocol,                      // http | http2 | grpc | tcp
    int Port,                             // the Service port clients dial (if the Service is created here)
    IReadOnlyList<string> Command,        // relative paths already resolved against Directory
    IReadOnlyDictionary<string, string> Env,
    IReadOnlyList<string> Upstreams);

public sealed record IngressSpec(string Service, int Port);
