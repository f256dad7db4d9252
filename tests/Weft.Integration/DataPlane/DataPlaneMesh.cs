using System.Text;
using System.Text.Json;
using Weft.Integration.Harness;
using Xunit.Abstractions;

namespace Weft.Integration.DataPlane;

/// <summary>
/// The mesh the protocol tests share (started once for the collection), each app behind its own
/// server-side sidecar, and one client-side sidecar with an outbound port for each: the in-test app
/// served as `web` (HTTP/1.1) and `h2app` (h2c); when node is here, tests/interop's @grpc/grpc-js
/// Echo server as `echo` (4 MB message limits) and `echo-large` (the same process on its 16 MB port),
/// and its Node http2 app (h2.js) as `h2node`.
/// </summary>
public sealed class DataPlaneMesh : IAsyncLifetime
{
    /// <summary>How long one peer run may take: the slowest scenario (10 MB x 3 each way) takes a few seconds.</summary>
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    public TestApp App { get; private set; } = null!;
    public TwoSidecars Mesh { get; private set; } = null!;

    /// <summary>Why the gRPC tests cannot run here (no node, no npm packages), or null.</summary>
    public string? GrpcMissing { get; private set; }

    /// <summary>Why the Node http2 tests cannot run here (no node), or null.</summary>
    public string? NodeMissing { get; private set; }

    /// <summary>server.js, whose "event ..." lines say what its calls saw (a cancel, a gathering).</summary>
    public WeftProcess GrpcServer { get; private set; } = null!;

    /// <summary>h2.js's server, whose "event ..." lines say what its streams saw.</summary>
    public WeftProcess Http2Server { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        App = await TestApp.StartAsync();
        List<ServerApp> apps = [new("web", App.Http1Port, "http"), new("h2app", App.Http2Port, "http2")];
        NodeMissing = Peers.Missing(["node"]);
        GrpcMissing = Peers.GrpcMissing();
        if (GrpcMissing is null)
        {
            GrpcServer = Peers.StartNodeApp("server.js");
            apps.Add(new("echo", await Peers.PortAsync(GrpcServer, "listening"), "grpc"));
            apps.Add(new("echo-large", await Peers.PortAsync(GrpcServer, "listening-large"), "grpc"));
        }
        if (NodeMissing is null)
        {
            Http2Server = Peers.StartNodeApp("h2.js", "server");
            apps.Add(new("h2node", await Peers.PortAsync(Http2Server, "listening"), "http2"));
        }
        Mesh = await TwoSidecars.StartAsync(apps);
    }

    /// <summary>The last lines of the client sidecar's and the named services' sidecars' debug logs, for a failure to explain itself.</summary>
    public string SidecarLogs(params string[] services)
    {
        static string Tail(string text) => string.Join('\n', text.Split('\n').TakeLast(60));
        var logs = new StringBuilder("\n--- client sidecar:\n").Append(Tail(Mesh.Client.Process.Output));
        foreach (var service in services)
            logs.Append($"\n--- {service} sidecar:\n").Append(Tail(Mesh.Server(service).Process.Output));
        return logs.ToString();
    }

    /// <summary>
    /// Runs one scenario of a tests/interop client script against a Service's outbound port on the
    /// client sidecar, and fails with what the peer printed and the sidecars' logs unless it passed.
    /// </summary>
    internal async Task<JsonElement> PassScenarioAsync(string[] script, string scenario, string service, ITestOutputHelper log)
    {
        var run = await Peers.RunScenarioAsync(script, scenario, Mesh.OutboundPort(service), Patience);
        log.WriteLine($"{string.Join(' ', script)} {scenario} via {service} in {run.Elapsed.TotalMilliseconds:0} ms:\n{run.Output}");
        if (!run.ScenarioPassed)
            Assert.Fail(run.Output + SidecarLogs(service));
        return run.Result;
    }

    /// <summary>Waits for a line of a server app, and fails with the sidecars' logs when it does not come.</summary>
    internal async Task AppPrintsAsync(WeftProcess app, string pattern, string service)
    {
        try { await app.WaitForLineAsync(pattern, TimeSpan.FromSeconds(10)); }
        catch (TimeoutException e) { Assert.Fail(e.Message + SidecarLogs(service)); }
    }

    /// <summary>
    /// xunit 2 has no dynamic skip: a test whose peers are missing prints "SKIP: why" and returns
    /// (in CI there is nothing to skip: Peers.Missing has already failed the test).
    /// </summary>
    internal static bool Skipped(string? missing, ITestOutputHelper log)
    {
        if (missing is null) return false;
        log.WriteLine("SKIP: " + missing);
        return true;
    }

    public async Task DisposeAsync()
    {
        if (Mesh is not null) await Mesh.DisposeAsync();
        if (GrpcServer is not null) await GrpcServer.DisposeAsync();
        if (Http2Server is not null) await Http2Server.DisposeAsync();
        if (App is not null) await App.DisposeAsync();
    }
}

[CollectionDefinition(Name)]
public sealed class DataPlaneCollection : ICollectionFixture<DataPlaneMesh>
{
    public const string Name = "data plane mesh";
}
