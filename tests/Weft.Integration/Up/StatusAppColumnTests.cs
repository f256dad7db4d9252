using System.CommandLine;
using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;
using Weft.Cli.Commands;
using Weft.Control.Api;
using Weft.Control.Discovery;
using Weft.Control.Store;
using Weft.Control.Workloads;

namespace Weft.Integration.Up;

/// <summary>`weft status`'s APP column: the text of each state, matching by instance, and the command over a real API.</summary>
public sealed class StatusAppColumnTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 21, 21, 0, 0, TimeSpan.Zero);

    private static WorkloadProcess App(string instance, string state, int restarts = 0, int? lastExit = null, string role = WorkloadRoles.App) =>
        new(instance, instance, role, state, state == WorkloadStates.Running ? 4242 : null, restarts, lastExit, null);

    private static ProxyStatus Proxy(string id, string role = "sidecar") =>
        new(id, "catalog", "v1", "default", role, "127.0.0.1:20001", "http://127.0.0.1:20000", true,
            Now, 3, Now, 3, Now, 0, null, null, "SYNCED");

    [Theory]
    [InlineData(WorkloadStates.Running, 0, null, "running")]
    [InlineData(WorkloadStates.Running, 2, 1, "running (2 restarts, last exit 1)")]
    [InlineData(WorkloadStates.Restarting, 3, 1, "restarting (3 restarts, last exit 1)")]
    [InlineData(WorkloadStates.Restarting, 1, 137, "restarting (1 restart, last exit 137)")]
    [InlineData(WorkloadStates.Restarting, 2, null, "restarting (2 restarts)")]
    [InlineData(WorkloadStates.Starting, 0, null, "starting")]
    [InlineData(WorkloadStates.Exited, 0, 1, "exited (1)")]
    [InlineData(WorkloadStates.Exited, 4, 0, "exited (0)")]
    [InlineData(WorkloadStates.Stopped, 0, 143, "stopped")]
    [InlineData("paused", 0, null, "paused")]
    public void Each_state_reads_as_one_short_phrase(string state, int restarts, int? lastExit, string expected)
    {
        Assert.Equal(expected, StatusCommand.AppColumn(App("catalog-v1-0", state, restarts, lastExit)));
    }

    [Fact]
    public void An_app_no_launcher_reported_is_a_dash()
    {
        Assert.Equal("-", StatusCommand.AppColumn(null));
    }

    [Theory]
    [InlineData(null, "-")]
    [InlineData(90_061.0, "2026-12-09 01:01Z (1d1h)")]
    [InlineData(3_720.0, "2026-12-08 01:02Z (1h02m)")]
    [InlineData(59.0, "2026-12-08 00:00Z (0m59s)")]
    [InlineData(-1.0, "2026-12-07 23:59Z (EXPIRED)")]
    public void The_certificate_expiry_reads_as_a_time_and_what_is_left(double? secondsLeft, string expected)
    {
        var now = new DateTimeOffset(2026, 12, 8, 0, 0, 0, TimeSpan.Zero);
        Assert.Equal(expected, StatusCommand.CertificateColumn(secondsLeft is { } s ? now.AddSeconds(s) : null, now));
    }

    [Fact]
    public void Apps_are_matched_by_instance_and_only_apps_count()
    {
        var older = new LauncherReport("up-old", Now.AddSeconds(-5), [App("catalog-v1-0", WorkloadStates.Exited, 0, 9)]);
        var newer = new LauncherReport("up-new", Now, [
            App("catalog-v1-0", WorkloadStates.Running),
            App("ingress", WorkloadStates.Running, role: WorkloadRoles.Gateway),
            App("web-v1-0", WorkloadStates.Running, role: WorkloadRoles.Proxy),
        ]);

        var apps = StatusCommand.AppsByInstance(new WorkloadsResponse([newer, older]));

        Assert.Equal(["catalog-v1-0"], apps.Keys);
        Assert.Equal(WorkloadStates.Running, apps["catalog-v1-0"].State);
        Assert.Empty(StatusCommand.AppsByInstance(null));
    }

    [Fact]
    public void Json_gives_each_sidecar_an_app_object_and_others_null()
    {
        var status = new ProxiesResponse(3, [Proxy("catalog-v1-0"), Proxy("web-v1-0"), Proxy("ingress", "gateway")]);
        var apps = StatusCommand.AppsByInstance(new WorkloadsResponse([new LauncherReport("up", Now, [
            App("catalog-v1-0", WorkloadStates.Restarting, 3, 1), App("ingress", WorkloadStates.Running)])]));

        var proxies = StatusCommand.WithApps(status, apps)["proxies"]!.AsArray();

        var app = proxies[0]!["app"]!;
        Assert.Equal(("restarting", 3, 1), ((string?)app["state"], (int?)app["restarts"], (int?)app["lastExitCode"]));
        Assert.Null(proxies[1]!["app"]);
        Assert.True(proxies[1]!.AsObject().ContainsKey("app"));
        Assert.Null(proxies[2]!["app"]); // a gateway has no app, even one sharing its name
        Assert.Equal("catalog-v1-0", (string?)proxies[0]!["id"]);
    }

    [Fact]
    public async Task The_table_shows_the_app_of_each_sidecar_from_a_real_control_plane_api()
    {
        var board = new WorkloadBoard();
        board.Report("up", [App("catalog-v1-0", WorkloadStates.Restarting, 3, 1), App("web-v1-0", WorkloadStates.Running)]);
        await using var api = await StatusApi.StartAsync([Proxy("catalog-v1-0"), Proxy("web-v1-0"), Proxy("ratings-v1-0")], board);

        var (code, lines) = await RunStatusAsync(api.Url);

        Assert.Equal(0, code);
        Assert.EndsWith("APP", lines[0]);
        Assert.EndsWith("  restarting (3 restarts, last exit 1)", Row(lines, "catalog-v1-0"));
        Assert.EndsWith("  running", Row(lines, "web-v1-0"));
        Assert.EndsWith("  -", Row(lines, "ratings-v1-0"));
    }

    [Fact]
    public async Task A_control_plane_without_the_workloads_endpoint_shows_dashes()
    {
        await using var api = await StatusApi.StartAsync([Proxy("catalog-v1-0")], board: null);

        var (code, lines) = await RunStatusAsync(api.Url);

        Assert.Equal(0, code);
        Assert.EndsWith("  -", Row(lines, "catalog-v1-0"));
    }

    [Fact]
    public async Task Json_output_over_a_real_api_carries_the_app_object()
    {
        var board = new WorkloadBoard();
        board.Report("up", [App("catalog-v1-0", WorkloadStates.Exited, 0, 2)]);
        await using var api = await StatusApi.StartAsync([Proxy("catalog-v1-0")], board);

        var (code, lines) = await RunStatusAsync(api.Url, "-o", "json");

        Assert.Equal(0, code);
        var app = JsonNode.Parse(string.Join("\n", lines))!["proxies"]![0]!["app"]!;
        Assert.Equal(("exited", 2), ((string?)app["state"], (int?)app["lastExitCode"]));
    }

    private static string Row(IReadOnlyList<string> lines, string proxy) =>
        Assert.Single(lines, l => l.StartsWith(proxy + " ", StringComparison.Ordinal));

    private static async Task<(int Code, IReadOnlyList<string> Lines)> RunStatusAsync(Uri control, params string[] extra)
    {
        var root = new RootCommand { StatusCommand.Create() };
        var output = new StringWriter();
        var error = new StringWriter();
        var code = await root.Parse(["status", "--control", control.ToString(), .. extra])
            .InvokeAsync(new InvocationConfiguration { Output = output, Error = error });
        Assert.Equal("", error.ToString());
        return (code, output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    /// <summary>The real /api/v1 on Kestrel; without a board it is an older control plane with no /workloads.</summary>
    private sealed class StatusApi : IAsyncDisposable, IProxyStatusView
    {
        private readonly WebApplication _app;
        private readonly string _dataDir;
        private readonly FileConfigStore _store;

        private StatusApi(WebApplication app, string dataDir, FileConfigStore store, IReadOnlyList<ProxyStatus> proxies) =>
            (_app, _dataDir, _store, Proxies) = (app, dataDir, store, proxies);

        public IReadOnlyList<ProxyStatus> Proxies { get; }
        public Uri Url => new(_app.Urls.First());

        public static async Task<StatusApi> StartAsync(IReadOnlyList<ProxyStatus> proxies, WorkloadBoard? board)
        {
            var dataDir = Directory.CreateTempSubdirectory("weft-status-").FullName;
            var store = FileConfigStore.Open(dataDir);
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
            var app = builder.Build();
            var api = new StatusApi(app, dataDir, store, proxies);
            var group = ApiEndpoints.Map(app, store, api, ApiToken.LoadOrCreate(dataDir));
            if (board is not null) WorkloadEndpoints.Map(group, board);
            await app.StartAsync();
            // As a control plane does: `weft status` on this machine finds the token through it.
            api._localEntry = LocalControls.Register(IPAddress.Loopback, api.Url.Port, dataDir);
            return api;
        }

        private string? _localEntry;

        public async ValueTask DisposeAsync()
        {
            if (_localEntry is not null) LocalControls.Unregister(_localEntry, _dataDir);
            await _app.StopAsync();
            await _app.DisposeAsync();
            _store.Dispose();
            Directory.Delete(_dataDir, recursive: true);
        }
    }
}
