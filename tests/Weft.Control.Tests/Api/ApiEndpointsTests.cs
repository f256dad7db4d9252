using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Weft.Control.Api;

namespace Weft.Control.Tests.Api;

// These tests go through the model's real ResourceParser/ResourceJson, with the kinds CONTRACT.md names.
public sealed class ApiEndpointsTests : IAsyncLifetime
{
    private const string Routes = """
        apiVersion: weft.dev/v1
        kind: Service
        metadata:
          name: catalog
        spec:
          selector:
            app: catalog
          ports:
          - name: http
            port: 8080
            protocol: http
        ---
        apiVersion: gateway.networking.k8s.io/v1
        kind: HTTPRoute
        metadata:
          name: catalog
        spec:
          parentRefs:
          - group: ""
            kind: Service
            name: catalog
          rules:
          - backendRefs:
            - name: catalog
              port: 8080
        """;

    private static readonly string RoutesV2 = Routes.Replace("    - name: catalog\n      port: 8080", "    - name: catalog\n      port: 8080\n      weight: 50", StringComparison.Ordinal)
        .Replace("app: catalog", "app: catalog\n    version: v2", StringComparison.Ordinal);

    private ApiHost _host = null!;
    private HttpClient Client => _host.Client;

    public async Task InitializeAsync() => _host = await ApiHost.StartAsync();
    public async Task DisposeAsync() => await _host.DisposeAsync();

    private static ApplyRequest Files(params (string Name, string Content)[] files) =>
        new(files.Select(f => new ApiFile(f.Name, f.Content)).ToList());

    private async Task<ChangeResponse> ApplyOk(string yaml, bool dryRun = false)
    {
        var response = await Client.PostAsJsonAsync("apply", Files(("routes.yaml", yaml)) with { DryRun = dryRun }, ApiJson.Options);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<ChangeResponse>(ApiJson.Options))!;
    }

    [Fact]
    public async Task Apply_creates_a_revision_and_a_repeat_is_unchanged()
    {
        var first = await ApplyOk(Routes);

        Assert.Equal(1, first.Revision);
        Assert.True(first.NewRevision);
        Assert.False(first.DryRun);
        Assert.Equal(["Service/catalog/created", "HTTPRoute/catalog/created"], first.Changes.Select(c => $"{c.Kind}/{c.Name}/{c.Action}"));
        Assert.All(first.Changes, c => Assert.Equal("default", c.Namespace));
        Assert.Equal("gateway.networking.k8s.io/v1", first.Changes[1].ApiVersion);

        var again = await ApplyOk(Routes);
        Assert.False(again.NewRevision);
        Assert.Equal(1, again.Revision);
        Assert.All(again.Changes, c => Assert.Equal("unchanged", c.Action));
    }

    [Fact]
    public async Task A_dry_run_reports_and_stores_nothing()
    {
        var result = await ApplyOk(Routes, dryRun: true);

        Assert.True(result.DryRun);
        Assert.Equal(2, result.Changes.Count);
        Assert.Equal(0, _host.Store.Current.Revision);
    }

    [Fact]
    public async Task An_invalid_apply_is_422_with_file_document_line_and_path_and_stores_nothing()
    {
        var broken = Routes.Replace("metadata:\n  name: catalog\nspec:\n  parentRefs", "metadata:\n  labels: {}\nspec:\n  parentRefs", StringComparison.Ordinal);
        Assert.NotEqual(Routes, broken);

        var response = await Client.PostAsJsonAsync("apply", Files(("ok.yaml", Routes), ("routes.yaml", broken)), ApiJson.Options);

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var body = (await response.Content.ReadFromJsonAsync<ValidationErrorsResponse>(ApiJson.Options))!;
        var error = Assert.Single(body.Errors);
        Assert.Equal("routes.yaml", error.File);
        Assert.Equal(1, error.Document);
        Assert.Equal("metadata.name", error.Path);
        Assert.InRange(error.Line, 13, 25); // inside the second document
        Assert.True(error.Column > 0);
        Assert.False(string.IsNullOrWhiteSpace(error.Message));
        Assert.Equal(0, _host.Store.Current.Revision);
    }

    [Theory]
    [InlineData("{ not json")]
    [InlineData("[1, 2]")]
    public async Task A_body_that_is_not_the_expected_json_is_400_with_a_message(string body)
    {
        var response = await Client.PostAsync("apply", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = (await response.Content.ReadFromJsonAsync<ApiError>(ApiJson.Options))!;
        Assert.Contains("JSON", error.Error);
    }

    [Fact]
    public async Task A_body_without_files_is_400()
    {
        var response = await Client.PostAsJsonAsync("apply", new ApplyRequest([]), ApiJson.Options);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }

    [Fact]
    public async Task A_store_that_cannot_write_answers_500_with_the_reason()
    {
        Directory.CreateDirectory(Path.Combine(_host.DataDir, "revisions", "0000000001.json"));

        var response = await Client.PostAsJsonAsync("apply", Files(("routes.yaml", Routes)), ApiJson.Options);

        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.Contains("not stored", (await response.Content.ReadFromJsonAsync<ApiError>(ApiJson.Options))!.Error);
    }

    [Fact]
    public async Task Get_accepts_kubectl_kind_aliases_and_404s_by_name()
    {
        await ApplyOk(Routes);

        var list = (await Client.GetFromJsonAsync<ResourceListResponse>("resources?kind=httproutes", ApiJson.Options))!;
        Assert.Equal(1, list.Revision);
        var route = Assert.Single(list.Items);
        Assert.Equal("HTTPRoute", (string?)route["kind"]);
        Assert.Equal("catalog", (string?)route["metadata"]!["name"]);

        var all = (await Client.GetFromJsonAsync<ResourceListResponse>("resources", ApiJson.Options))!;
        Assert.Equal(2, all.Items.Count);
        Assert.Empty((await Client.GetFromJsonAsync<ResourceListResponse>("resources?kind=service&namespace=other", ApiJson.Options))!.Items);

        var one = JsonNode.Parse(await Client.GetStringAsync("resources/Service/default/catalog"))!;
        Assert.Equal("weft.dev/v1", (string?)one["apiVersion"]);

        var missing = await Client.GetAsync("resources/services/default/nope");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Contains("Service default/nope", (await missing.Content.ReadFromJsonAsync<ApiError>(ApiJson.Options))!.Error);

        var unknown = await Client.GetAsync("resources?kind=flurbs");
        Assert.Equal(HttpStatusCode.BadRequest, unknown.StatusCode);
        Assert.Contains("flurbs", (await unknown.Content.ReadFromJsonAsync<ApiError>(ApiJson.Options))!.Error);
    }

    [Fact]
    public async Task Delete_by_url_then_again_is_404_naming_it()
    {
        await ApplyOk(Routes);

        var deleted = await Client.DeleteAsync("resources/httproute/default/catalog");
        Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);
        var result = (await deleted.Content.ReadFromJsonAsync<ChangeResponse>(ApiJson.Options))!;
        Assert.Equal(2, result.Revision);
        Assert.Equal("deleted", Assert.Single(result.Changes).Action);

        var again = await Client.DeleteAsync("resources/httproute/default/catalog");
        Assert.Equal(HttpStatusCode.NotFound, again.StatusCode);
        Assert.Contains("HTTPRoute default/catalog", (await again.Content.ReadFromJsonAsync<ApiError>(ApiJson.Options))!.Error);
    }

    [Fact]
    public async Task Delete_by_files_is_all_or_nothing()
    {
        await ApplyOk(Routes);
        await Client.DeleteAsync("resources/httproute/default/catalog");

        var refused = await Client.PostAsJsonAsync("delete", Files(("routes.yaml", Routes)), ApiJson.Options);
        Assert.Equal(HttpStatusCode.NotFound, refused.StatusCode);
        Assert.Single(_host.Store.Get("Service"));

        var ignored = await Client.PostAsJsonAsync("delete", Files(("routes.yaml", Routes)) with { IgnoreMissing = true }, ApiJson.Options);
        Assert.Equal(HttpStatusCode.OK, ignored.StatusCode);
        Assert.Empty(_host.Store.Get());
    }

    [Fact]
    public async Task History_and_rollback()
    {
        await ApplyOk(Routes);
        var v2 = await ApplyOk(RoutesV2);
        Assert.Equal(2, v2.Revision);
        Assert.Contains(v2.Changes, c => c.Action == "configured");

        var rollback = await Client.PostAsJsonAsync("rollback", new RollbackRequest(null), ApiJson.Options);
        Assert.Equal(HttpStatusCode.OK, rollback.StatusCode);
        Assert.Equal(3, (await rollback.Content.ReadFromJsonAsync<ChangeResponse>(ApiJson.Options))!.Revision);

        var history = (await Client.GetFromJsonAsync<HistoryResponse>("history", ApiJson.Options))!;
        Assert.Equal(3, history.Revision);
        Assert.Equal(["apply", "apply", "rollback to 1"], history.Revisions.Select(r => r.Cause));
        Assert.Equal(2, history.Revisions[0].ResourceCount);

        var unknown = await Client.PostAsJsonAsync("rollback", new RollbackRequest(42), ApiJson.Options);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Contains("42", (await unknown.Content.ReadFromJsonAsync<ApiError>(ApiJson.Options))!.Error);

        // An empty body rolls back to the default revision.
        var bare = await Client.PostAsync("rollback", content: null);
        Assert.Equal(HttpStatusCode.OK, bare.StatusCode);
        Assert.Equal(4, (await Client.GetFromJsonAsync<RevisionResponse>("revision", ApiJson.Options))!.Revision);
    }

    [Fact]
    public async Task Proxies_lists_the_status_view_with_the_current_revision()
    {
        await ApplyOk(Routes);
        _host.Proxies.Items = [TestProxyStatusView.Proxy("catalog-1", acked: 1), TestProxyStatusView.Proxy("web-1", acked: 0)];

        var body = (await Client.GetFromJsonAsync<ProxiesResponse>("proxies", ApiJson.Options))!;

        Assert.Equal(1, body.Revision);
        Assert.Equal(["catalog-1", "web-1"], body.Proxies.Select(p => p.Id));
        Assert.Equal("http://127.0.0.1:20000", body.Proxies[0].AdminUrl);
    }

    [Fact]
    public async Task Sync_answers_at_once_when_every_connected_proxy_has_acked()
    {
        _host.Proxies.Items = [TestProxyStatusView.Proxy("a", acked: 3), TestProxyStatusView.Proxy("gone", acked: 0, connected: false)];

        var body = (await Client.GetFromJsonAsync<SyncResponse>("sync?revision=3&timeoutSeconds=30", ApiJson.Options))!;

        Assert.True(body.Synced);
        Assert.Empty(body.Pending);
    }

    [Fact]
    public async Task Sync_long_polls_until_the_ack_arrives()
    {
        _host.Proxies.Items = [TestProxyStatusView.Proxy("a", acked: 3), TestProxyStatusView.Proxy("b", acked: 2)];

        var poll = Client.GetFromJsonAsync<SyncResponse>("sync?revision=3&timeoutSeconds=60", ApiJson.Options);
        await _host.Proxies.Read.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(poll.IsCompleted);
        _host.Proxies.Items = [TestProxyStatusView.Proxy("a", acked: 3), TestProxyStatusView.Proxy("b", acked: 3)];

        var body = (await poll.WaitAsync(TimeSpan.FromSeconds(10)))!;
        Assert.True(body.Synced);
    }

    [Fact]
    public async Task Sync_times_out_listing_the_proxies_not_yet_synced()
    {
        _host.Proxies.Items = [TestProxyStatusView.Proxy("a", acked: 3), TestProxyStatusView.Proxy("b", acked: 2)];

        var body = (await Client.GetFromJsonAsync<SyncResponse>("sync?revision=3&timeoutSeconds=0", ApiJson.Options))!;

        Assert.False(body.Synced);
        Assert.Equal("b", Assert.Single(body.Pending).Id);
    }

    [Fact]
    public async Task Sync_answers_early_when_the_pending_proxies_rejected_the_revision()
    {
        _host.Proxies.Items = [TestProxyStatusView.Proxy("a", acked: 2, nacked: 3, nackReason: "unknown cluster")];

        var body = (await Client.GetFromJsonAsync<SyncResponse>("sync?revision=3&timeoutSeconds=60", ApiJson.Options)
            .WaitAsync(TimeSpan.FromSeconds(10)))!;

        Assert.False(body.Synced);
        Assert.Equal("NACKED: unknown cluster", Assert.Single(body.Pending).SyncState);
    }
}
