using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Weft.Control.Api;
using Weft.Control.Discovery;
using Weft.Control.Store;
using Weft.Control.Tests.Store;
using Weft.Control.Workloads;

namespace Weft.Control.Tests.Api;

/// <summary>The API on a real Kestrel at 127.0.0.1:0, over a real store in a temp dir.</summary>
internal sealed class ApiHost : IAsyncDisposable
{
    private readonly TempDir _dir;
    private readonly WebApplication _app;

    public FileConfigStore Store { get; }
    public string DataDir => _dir.Path;
    public TestProxyStatusView Proxies { get; }
    public WorkloadBoard Workloads { get; }
    public HttpClient Client { get; }

    private ApiHost(TempDir dir, WebApplication app, FileConfigStore store, TestProxyStatusView proxies, WorkloadBoard workloads, HttpClient client) =>
        (_dir, _app, Store, Proxies, Workloads, Client) = (dir, app, store, proxies, workloads, client);

    public static async Task<ApiHost> StartAsync(WorkloadBoard? workloads = null)
    {
        workloads ??= new WorkloadBoard();
        var dir = new TempDir();
        var store = FileConfigStore.Open(dir.Path);
        var proxies = new TestProxyStatusView();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        var token = ApiToken.LoadOrCreate(dir.Path);
        var api = ApiEndpoints.Map(app, store, proxies, token);
        WorkloadEndpoints.Map(api, workloads);
        TokenEndpoints.Map(api, Weft.Control.Ca.BootstrapTokens.Open(dir.Path), "cluster.local");
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var client = new HttpClient { BaseAddress = new Uri(address.TrimEnd('/') + ApiEndpoints.Prefix + "/"), Timeout = TimeSpan.FromSeconds(30) };
        client.DefaultRequestHeaders.Authorization = new("Bearer", File.ReadAllText(Path.Combine(dir.Path, ApiToken.FileName)).Trim());
        return new ApiHost(dir, app, store, proxies, workloads, client);
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        Store.Dispose();
        _dir.Dispose();
    }
}

internal sealed class TestProxyStatusView : IProxyStatusView
{
    public volatile IReadOnlyList<ProxyStatus> Items = [];

    /// <summary>Completes on the first read, so a test knows a long-poll is under way before it changes anything.</summary>
    public TaskCompletionSource Read { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public IReadOnlyList<ProxyStatus> Proxies
    {
        get
        {
            var items = Items;
            Read.TrySetResult();
            return items;
        }
    }

    public static ProxyStatus Proxy(string id, long acked, long nacked = 0, string? nackReason = null, bool connected = true) =>
        new(id, "catalog", "v1", "default", "sidecar", "127.0.0.1:20001", "http://127.0.0.1:20000", connected,
            DateTimeOffset.UnixEpoch, acked, null, acked, null, nacked, nackReason, null,
            nackReason is null ? (acked > 0 ? "SYNCED" : "STALE") : $"NACKED: {nackReason}");
}
