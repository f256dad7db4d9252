using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Weft.Integration.Harness;
using Weft.Integration.Mesh;

namespace Weft.Integration.Up;

/// <summary>
/// `weft up` of one service whose app is a plain Python http.server (ThreadingHTTPServer) that takes
/// <see cref="RequestSeconds"/> per request and, like most apps, exits at once on SIGTERM (Python's
/// default). The app answers <c>/active</c> itself with "ACTIVE SERVED": requests sleeping in it now,
/// and requests it answered since it started; the mesh never sees those calls, the test dials the
/// app's port directly.
/// </summary>
internal sealed partial class SlowAppMesh : IAsyncDisposable
{
    public const double RequestSeconds = 2;
    public static readonly TimeSpan StartDeadline = TimeSpan.FromSeconds(120);

    private const string App = """
        import os, threading, time
        from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler

        lock = threading.Lock()
        active = 0
        served = 0
        delay = float(os.environ["DELAY"])
        instance = os.environ["WEFT_INSTANCE"].encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                global active, served
                if self.path == "/active":
                    with lock:
                        body = ("%d %d\n" % (active, served)).encode()
                else:
                    with lock:
                        active += 1
                    time.sleep(delay)
                    with lock:
                        active -= 1
                        served += 1
                    body = instance
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 512
            daemon_threads = True

        Server(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
        """;

    private readonly string _dir;

    private SlowAppMesh(string dir, WeftProcess up, int ingressPort, int apiPort)
    {
        _dir = dir;
        Up = up;
        IngressPort = ingressPort;
        ApiPort = apiPort;
    }

    public WeftProcess Up { get; }
    public int IngressPort { get; }
    public int ApiPort { get; }
    public string Control => $"http://127.0.0.1:{ApiPort}";

    /// <summary>Replica instance to (sidecar inbound port, app port), from `weft up`'s endpoint lines.</summary>
    public Dictionary<string, (int Inbound, int App)> Replicas { get; } = new(StringComparer.Ordinal);

    /// <summary>The Python interpreter, or null when the machine has none (./test.sh installs it).</summary>
    public static string? Python() =>
        new[] { "/usr/bin/python3", "/usr/local/bin/python3" }.FirstOrDefault(File.Exists);

    public static async Task<SlowAppMesh> StartAsync(int replicas)
    {
        var dir = Path.Combine(Path.GetTempPath(), "weft-slow-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        await File.WriteAllTextAsync(Path.Combine(dir, "slow.py"), App);
        // The tests put requests inside one replica by dialing its sidecar's inbound port directly: plaintext,
        // which weft up's default (STRICT) refuses, so this mesh's own MeshConfig takes plaintext too.
        await File.WriteAllTextAsync(Path.Combine(dir, "mesh-config.yaml"),
            "apiVersion: weft.dev/v1\nkind: MeshConfig\nmetadata: { name: default }\nspec:\n  mtls: { mode: PERMISSIVE }\n");
        await File.WriteAllTextAsync(Path.Combine(dir, "mesh.yaml"), $$"""
            apiVersion: weft.dev/v1
            kind: Topology
            metadata: { name: slow }
            spec:
              config: [mesh-config.yaml]
              workloads:
                - name: slow
                  service: slow
                  protocol: http
                  port: 8080
                  replicas: {{replicas}}
                  command: [{{Python() ?? "python3"}}, slow.py]
                  env: { DELAY: "{{RequestSeconds}}" }
              ingress: { service: slow, port: 8080 }
            """);
        var (ingress, api) = (ShopMesh.FreePort(), ShopMesh.FreePort());
        var up = WeftProcess.Start(["up", "-f", Path.Combine(dir, "mesh.yaml"), "--ingress-port", ingress.ToString(), "--api-port", api.ToString(),
            "--discovery-tls-port", ShopMesh.FreePort().ToString(), "--discovery-port", ShopMesh.FreePort().ToString(), "--data-dir", Path.Combine(dir, ".weft")], workingDirectory: dir);
        var mesh = new SlowAppMesh(dir, up, ingress, api);
        try
        {
            await up.WaitForLineAsync("^weft: mesh ready$", StartDeadline);
            foreach (Match m in ProxyLine().Matches(up.Output))
                mesh.Replicas[m.Groups[1].Value] = (int.Parse(m.Groups[2].Value), int.Parse(m.Groups[3].Value));
            Assert.Equal(replicas, mesh.Replicas.Count);
        }
        catch
        {
            await mesh.DisposeAsync();
            throw;
        }
        return mesh;
    }

    /// <summary>`weft: proxy slow-0   admin http://127.0.0.1:A  inbound 127.0.0.1:I  app 127.0.0.1:P`.</summary>
    [GeneratedRegex(@"^weft: proxy (slow-\d+) +admin \S+ +inbound 127\.0\.0\.1:(\d+) +app 127\.0\.0\.1:(\d+)", RegexOptions.Multiline)]
    private static partial Regex ProxyLine();

    public static HttpClient Client() =>
        new(new SocketsHttpHandler { UseProxy = false, PooledConnectionLifetime = TimeSpan.FromMinutes(5) }) { Timeout = TimeSpan.FromSeconds(60) };

    /// <summary>Runs a client command (`weft restart`, `weft stop`...) against this mesh's control plane.</summary>
    public Task<(int ExitCode, string Output)> WeftAsync(params string[] args) =>
        WeftProcess.RunAsync([.. args, "--control", Control], TimeSpan.FromSeconds(120));

    /// <summary>What the app of <paramref name="instance"/> counts itself: requests inside it now, and answered since it started.</summary>
    public async Task<(int Active, int Served)?> AppCountsAsync(HttpClient http, string instance)
    {
        try
        {
            var text = await http.GetStringAsync($"http://127.0.0.1:{Replicas[instance].App}/active");
            var parts = text.Split(' ', StringSplitOptions.TrimEntries);
            return (int.Parse(parts[0]), int.Parse(parts[1]));
        }
        catch (HttpRequestException)
        {
            return null; // not listening (restarting, stopped)
        }
    }

    /// <summary>One GET; its status and body, or the exception's message as the body with status 0.</summary>
    public static async Task<(int Status, string Body)> GetAsync(HttpClient http, string url)
    {
        try
        {
            using var response = await http.GetAsync(url);
            return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return (0, e.GetType().Name + ": " + e.Message);
        }
    }

    /// <summary>Every process `weft up` reported to the control plane (app, sidecars, gateway, control plane), by pid.</summary>
    public async Task<IReadOnlyList<(string Name, int Pid)>> ReportedProcessesAsync(HttpClient http)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"{Control}/api/v1/workloads");
        request.Headers.Authorization = new("Bearer", File.ReadAllText(Path.Combine(_dir, ".weft", "api-token")).Trim());
        using var response = await http.SendAsync(request);
        var json = JsonDocument.Parse(await response.EnsureSuccessStatusCode().Content.ReadAsStringAsync()).RootElement;
        return json.GetProperty("launchers").EnumerateArray()
            .SelectMany(l => l.GetProperty("processes").EnumerateArray())
            .Where(p => p.GetProperty("pid").ValueKind == JsonValueKind.Number)
            .Select(p => (p.GetProperty("name").GetString()!, p.GetProperty("pid").GetInt32()))
            .ToList();
    }

    public async ValueTask DisposeAsync()
    {
        await Up.DisposeAsync();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
