using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Weft.Integration.Harness;

namespace Weft.Integration.Mesh;

/// <summary>
/// The demo shop brought up by the real `weft up` (built CLI, real processes and sockets) on ports of
/// its own and a throw-away data dir, so it never meets a developer's running mesh.
/// </summary>
public sealed class ShopMesh : IAsyncLifetime
{
    public static readonly TimeSpan StartDeadline = TimeSpan.FromSeconds(120);

    private WeftProcess? _up;

    public int IngressPort { get; } = FreePort();
    public int ApiPort { get; } = FreePort();
    public int DiscoveryPort { get; } = FreePort();
    public string DataDir { get; } = Path.Combine(Path.GetTempPath(), "weft-mesh-" + Guid.NewGuid().ToString("N")[..8]);
    public string Control => $"http://127.0.0.1:{ApiPort}";
    public Uri Ingress => new($"http://127.0.0.1:{IngressPort}/");
    public WeftProcess Up => _up ?? throw new InvalidOperationException("the mesh is not up");

    public async Task InitializeAsync()
    {
        _up = WeftProcess.Start(UpArguments(this));
        await _up.WaitForLineAsync("^weft: mesh ready$", StartDeadline);
    }

    public async Task DisposeAsync()
    {
        if (_up is not null) await _up.DisposeAsync();
        try { Directory.Delete(DataDir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    public static string[] UpArguments(ShopMesh m) =>
    [
        "up", "-f", Repo.ShopTopology, "--ingress-port", m.IngressPort.ToString(), "--api-port", m.ApiPort.ToString(),
        "--discovery-tls-port", ShopMesh.FreePort().ToString(), "--discovery-port", m.DiscoveryPort.ToString(), "--data-dir", m.DataDir,
    ];

    /// <summary>Runs a client command (`weft status`, `apply`...) against this mesh's control plane.</summary>
    public Task<(int ExitCode, string Output)> WeftAsync(params string[] args) =>
        WeftProcess.RunAsync([.. args, "--control", Control], TimeSpan.FromSeconds(60));

    /// <summary>`weft status -o json`, parsed.</summary>
    public async Task<JsonElement> StatusAsync()
    {
        var (code, output) = await WeftAsync("status", "-o", "json");
        Assert.True(code == 0, $"weft status failed ({code}):\n{output}");
        return JsonDocument.Parse(output[output.IndexOf('{')..]).RootElement.Clone();
    }

    private static readonly HashSet<int> HandedOut = [];

    /// <summary>
    /// A port nothing listens on now, never one handed out before in this test run: the OS may give
    /// the same ephemeral port to two binds in a row once the first is released, and a fixture that
    /// asks for an admin and an inbound port would then get one port twice.
    /// </summary>
    public static int FreePort()
    {
        while (true)
        {
            using var l = new TcpListener(IPAddress.Loopback, 0);
            l.Start();
            var port = ((IPEndPoint)l.LocalEndpoint).Port;
            lock (HandedOut)
            {
                if (HandedOut.Add(port))
                    return port;
            }
        }
    }
}
