using System.Diagnostics;

namespace Weft.Integration.DataPlane;

/// <summary>
/// The mesh the protocol tests share (started once for the collection): the in-test app served as
/// `web` (HTTP/1.1) and `h2app` (h2c), the @grpc/grpc-js Echo server served as `echo` (gRPC), each
/// behind its own server-side sidecar, and one client-side sidecar with an outbound port for each.
/// </summary>
public sealed class DataPlaneMesh : IAsyncLifetime
{
    private Process? _grpcServer;

    public TestApp App { get; private set; } = null!;
    public TwoSidecars Mesh { get; private set; } = null!;

    /// <summary>Why the gRPC tests cannot run here (no node), or null.</summary>
    public string? GrpcMissing { get; private set; }

    public async Task InitializeAsync()
    {
        App = await TestApp.StartAsync();
        List<ServerApp> apps = [new("web", App.Http1Port, "http"), new("h2app", App.Http2Port, "http2")];
        GrpcMissing = GrpcPeer.Missing();
        if (GrpcMissing is null)
        {
            _grpcServer = GrpcPeer.Start("server.js");
            apps.Add(new("echo", await GrpcPeer.ListeningPortAsync(_grpcServer, TimeSpan.FromSeconds(20)), "grpc"));
        }
        Mesh = await TwoSidecars.StartAsync(apps);
    }

    public async Task DisposeAsync()
    {
        if (Mesh is not null) await Mesh.DisposeAsync();
        if (_grpcServer is not null) await GrpcPeer.StopAsync(_grpcServer);
        if (App is not null) await App.DisposeAsync();
    }
}

[CollectionDefinition(Name)]
public sealed class DataPlaneCollection : ICollectionFixture<DataPlaneMesh>
{
    public const string Name = "data plane mesh";
}
