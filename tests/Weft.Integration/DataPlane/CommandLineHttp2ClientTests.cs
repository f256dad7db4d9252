using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace Weft.Integration.DataPlane;

/// <summary>
/// curl (--http2-prior-knowledge) and nghttp (nghttp2's client) through the two sidecars to the
/// Node http2 app (`h2node`, tests/interop/h2.js): their exit codes, status lines, statistics and
/// the bytes they wrote are what is checked (nghttp exits 0 even when it could not connect).
/// </summary>
[Collection(DataPlaneCollection.Name)]
public sealed partial class CommandLineHttp2ClientTests(DataPlaneMesh fixture, ITestOutputHelper log) : IDisposable
{
    private const int TenMb = 10 * 1024 * 1024;
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private readonly string _dir = Directory.CreateTempSubdirectory("weft-h2cli-").FullName;

    [Fact]
    public async Task Curl_GET_over_h2c_reaches_the_app_with_its_headers()
    {
        if (DataPlaneMesh.Skipped(Missing("curl"), log)) return;
        var body = Path.Combine(_dir, "body");
        var run = await CurlAsync(["-H", "x-curl: through two sidecars", "-o", body, Url("/headers?from=curl")]);
        Assert.Equal("2 200", run.Output.Trim());
        using var echoed = JsonDocument.Parse(await File.ReadAllTextAsync(body));
        Assert.Equal("through two sidecars", echoed.RootElement.GetProperty("x-curl").GetString());
        Assert.Equal("/headers?from=curl", echoed.RootElement.GetProperty(":path").GetString());
    }

    [Fact]
    public async Task Curl_uploads_10_MB_and_gets_the_same_bytes_back()
    {
        if (DataPlaneMesh.Skipped(Missing("curl"), log)) return;
        var sent = await RandomFileAsync("upload");
        var back = Path.Combine(_dir, "echoed");
        var run = await CurlAsync(["--data-binary", "@" + sent, "-H", "content-type: application/octet-stream", "-o", back, Url("/echo")]);
        Assert.Equal("2 200", run.Output.Trim());
        Assert.Equal(TenMb, new FileInfo(back).Length);
        Assert.Equal(await Sha256Async(sent), await Sha256Async(back));
    }

    [Fact]
    public async Task Curl_downloads_10_MB_the_app_hashed()
    {
        if (DataPlaneMesh.Skipped(Missing("curl"), log)) return;
        var head = Path.Combine(_dir, "head");
        var body = Path.Combine(_dir, "download");
        var run = await CurlAsync(["-D", head, "-o", body, Url($"/bytes?n={TenMb}")]);
        Assert.Equal("2 200", run.Output.Trim());
        var appHash = Sha256Header().Match(await File.ReadAllTextAsync(head));
        Assert.True(appHash.Success, "no x-sha256 in the response head:\n" + await File.ReadAllTextAsync(head));
        Assert.Equal(TenMb, new FileInfo(body).Length);
        Assert.Equal(appHash.Groups[1].Value, await Sha256Async(body));
    }

    /// <summary>nghttp -m 100: 100 streams on one connection, which the app answers only once all 100 are open.</summary>
    [Fact]
    public async Task Nghttp_100_streams_on_one_connection_are_open_at_once_and_all_answered()
    {
        if (DataPlaneMesh.Skipped(Missing("nghttp"), log)) return;
        var path = $"/gather?id=nghttp-{Guid.NewGuid():N}&n=100";
        var run = await NghttpAsync(["-n", "-s", "-m", "100", Url(path)]);
        // Statistics, one row a request: id, responseEnd, requestStart, process, code, size, path.
        var rows = StatisticsRow().Matches(run.Output);
        Assert.True(rows.Count == 100, $"{rows.Count} requests in nghttp's statistics, not 100:\n{run.Output}{fixture.SidecarLogs("h2node")}");
        Assert.All(rows, row =>
        {
            Assert.Equal("200", row.Groups["code"].Value);
            Assert.Equal("gathered 100".Length.ToString(System.Globalization.CultureInfo.InvariantCulture), row.Groups["size"].Value);
            Assert.Equal(path, row.Groups["path"].Value);
        });
    }

    [Fact]
    public async Task Nghttp_uploads_10_MB_the_app_receives_whole()
    {
        if (DataPlaneMesh.Skipped(Missing("nghttp"), log)) return;
        var sent = await RandomFileAsync("upload");
        var run = await NghttpAsync(["-d", sent, Url("/sha256")]);
        Assert.Equal($"{TenMb} {await Sha256Async(sent)}", run.Output.Trim());
    }

    private string? Missing(string tool) => fixture.NodeMissing ?? Peers.Missing([tool]);

    private string Url(string pathAndQuery) => $"http://127.0.0.1:{fixture.Mesh.OutboundPort("h2node")}{pathAndQuery}";

    /// <summary>curl over h2c with prior knowledge; it prints only "HTTP_VERSION STATUS" (-w), errors fail the test.</summary>
    private Task<PeerRun> CurlAsync(string[] args) =>
        RunAsync("curl", ["-sS", "--http2-prior-knowledge", "-w", "%{http_version} %{response_code}", .. args]);

    private Task<PeerRun> NghttpAsync(string[] args) => RunAsync("nghttp", args);

    private async Task<PeerRun> RunAsync(string tool, string[] args)
    {
        var run = await Peers.RunAsync(tool, args, Patience, _dir);
        log.WriteLine($"{tool} {string.Join(' ', args)}: exit {run.Code} in {run.Elapsed.TotalMilliseconds:0} ms\n{run.Output}");
        // nghttp says what went wrong on its output and may still exit 0.
        if (run.Code != 0 || run.Output.Contains("[ERROR]", StringComparison.Ordinal) || run.Output.Contains("not processed", StringComparison.Ordinal))
            Assert.Fail($"{tool} failed (exit {run.Code}):\n{run.Output}{fixture.SidecarLogs("h2node")}");
        return run;
    }

    private async Task<string> RandomFileAsync(string name)
    {
        var path = Path.Combine(_dir, name);
        await File.WriteAllBytesAsync(path, RandomNumberGenerator.GetBytes(TenMb));
        return path;
    }

    private static async Task<string> Sha256Async(string path)
    {
        await using var file = File.OpenRead(path);
        return Convert.ToHexStringLower(await SHA256.HashDataAsync(file));
    }

    [GeneratedRegex(@"^x-sha256: ([0-9a-f]{64})\r?$", RegexOptions.Multiline)]
    private static partial Regex Sha256Header();

    [GeneratedRegex(@"^\s*\d+\s+\S+\s+\S+\s+\S+\s+(?<code>\d{3})\s+(?<size>\d+)\s+(?<path>\S+)$", RegexOptions.Multiline)]
    private static partial Regex StatisticsRow();

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
