using System.Net;
using Weft.Integration.Harness;
using Weft.Integration.Mesh;

namespace Weft.Integration.DataPlane;

/// <summary>A proxy is ready only once it has config: before the control plane answers, /ready says 503.</summary>
public sealed class ReadinessTests
{
    [Fact]
    public async Task Ready_is_503_until_the_first_config_then_200()
    {
        var dir = Path.Combine(Path.GetTempPath(), "weft-ready-" + Guid.NewGuid().ToString("N")[..8]);
        var (api, discovery, admin) = (ShopMesh.FreePort(), ShopMesh.FreePort(), ShopMesh.FreePort());
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var ready = new Uri($"http://127.0.0.1:{admin}/ready");
        string[] controlArgs = ["control", "--data-dir", Path.Combine(dir, "data"), "--api-port", api.ToString(), "--discovery-tls-port", ShopMesh.FreePort().ToString(), "--discovery-port", discovery.ToString()];
        try
        {
            // The proxy's token comes from the control plane, which then stops: tokens outlive a restart.
            string token;
            await using (var first = WeftProcess.Start(controlArgs))
            {
                await first.WaitForLineAsync("control plane ready", TimeSpan.FromSeconds(60));
                token = TokenFiles.Create(api, Path.Combine(dir, "data"), "lonely");
            }
            // No control plane now: the proxy is up, its admin answers, it has no config.
            await using var proxy = WeftProcess.Start(["proxy", "--service", "lonely", "--instance", "lonely-0", "--app-port", ShopMesh.FreePort().ToString(),
                "--inbound-port", ShopMesh.FreePort().ToString(), "--admin-port", admin.ToString(), "--control", $"http://127.0.0.1:{discovery}",
                "--bootstrap-token-file", token]);
            HttpResponseMessage? before = null;
            await Eventually.HoldsAsync(async () =>
            {
                try { before = await http.GetAsync(ready); return true; }
                catch (HttpRequestException) { return false; }
            }, TimeSpan.FromSeconds(30), () => "the admin port never answered:\n" + proxy.Output);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, before!.StatusCode);
            Assert.Equal("waiting for the first config\n", await before.Content.ReadAsStringAsync());

            await using var control = WeftProcess.Start(controlArgs);
            await Eventually.HoldsAsync(async () => (await http.GetAsync(ready)).StatusCode == HttpStatusCode.OK,
                TimeSpan.FromSeconds(30), () => "never ready once the control plane came:\n" + proxy.Output);
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }
}
