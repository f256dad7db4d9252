using Weft.Integration.Harness;

namespace Weft.Integration.Mesh;

/// <summary>
/// Bad input never gets in: `weft apply` exits non-zero and names the file, line and field path, and
/// the control plane stores nothing (its revision does not move). Uses the real `weft control`.
/// </summary>
public sealed class InvalidConfigTests : IAsyncLifetime
{
    private readonly int _apiPort = ShopMesh.FreePort();
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "weft-invalid-" + Guid.NewGuid().ToString("N")[..8]);
    private WeftProcess? _control;

    private string Control => $"http://127.0.0.1:{_apiPort}";

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_dir);
        _control = WeftProcess.Start(["control", "--data-dir", Path.Combine(_dir, "data"), "--api-port", _apiPort.ToString(), "--discovery-tls-port", ShopMesh.FreePort().ToString(), "--discovery-port", ShopMesh.FreePort().ToString()]);
        await _control.WaitForLineAsync("control plane ready", TimeSpan.FromSeconds(60));
    }

    public async Task DisposeAsync()
    {
        if (_control is not null) await _control.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Invalid_yaml_gets_a_non_zero_exit_naming_file_and_line()
    {
        var file = Write("broken.yaml", "apiVersion: weft.dev/v1\nkind: Service\nmetadata:\n  name: catalog\n spec: [oops\n");
        var (code, output) = await WeftProcess.RunAsync(["apply", "-f", file, "--control", Control], TimeSpan.FromSeconds(60));
        Assert.NotEqual(0, code);
        Assert.Matches(@"broken\.yaml:5:\d+: ", output);
        await AssertNothingStoredAsync();
    }

    [Fact]
    public async Task An_invalid_field_gets_a_non_zero_exit_naming_line_and_path_and_every_error_is_listed()
    {
        var file = Write("route.yaml", """
            apiVersion: weft.dev/v1
            kind: Service
            metadata: { name: catalog }
            spec:
              ports: [{ port: 8080 }]
            ---
            apiVersion: gateway.networking.k8s.io/v1
            kind: HTTPRoute
            metadata: { name: split }
            spec:
              parentRefs: [{ group: "", kind: Service, name: catalog }]
              rules:
                - backendRefs:
                    - { name: catalog-v1, weight: 1 }
                    - { name: catalog-v2, weight: 2000000 }
                  matchez: []
            """);
        var (code, output) = await WeftProcess.RunAsync(["apply", "-f", file, "--control", Control], TimeSpan.FromSeconds(60));
        Assert.NotEqual(0, code);
        Assert.Contains("route.yaml:15:", output);
        Assert.Matches(@"route\.yaml:15:\d+: spec\.rules\[0\]\.backendRefs\[1\]\.weight: must be between 0 and 1000000", output);
        Assert.Contains("spec.rules[0].matchez", output); // every error, not just the first
        await AssertNothingStoredAsync();  // the valid Service in the same apply was not stored either
    }

    [Fact]
    public async Task A_dry_run_shows_what_would_change_and_stores_nothing()
    {
        var file = Write("svc.yaml", "apiVersion: weft.dev/v1\nkind: Service\nmetadata: { name: dry }\nspec:\n  ports: [{ port: 8080 }]\n");
        var (code, output) = await WeftProcess.RunAsync(["apply", "-f", file, "--dry-run", "--control", Control], TimeSpan.FromSeconds(60));
        Assert.True(code == 0, output);
        Assert.Contains("service.weft.dev/dry created", output);
        await AssertNothingStoredAsync();
    }

    private async Task AssertNothingStoredAsync()
    {
        var (code, output) = await WeftProcess.RunAsync(["history", "-o", "json", "--control", Control], TimeSpan.FromSeconds(60));
        Assert.True(code == 0, output);
        Assert.DoesNotContain("\"revision\": 1", output);
        Assert.DoesNotContain("\"revision\":1", output);
    }

    private string Write(string name, string content)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, content);
        return path;
    }
}
