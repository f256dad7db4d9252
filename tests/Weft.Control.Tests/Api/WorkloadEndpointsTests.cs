using System.Net;
using System.Net.Http.Json;
using System.Text;
using Weft.Control.Api;
using Weft.Control.Workloads;

namespace Weft.Control.Tests.Api;

public sealed class WorkloadEndpointsTests : IAsyncLifetime
{
    private static readonly DateTimeOffset Started = new(2026, 11, 21, 20, 0, 0, TimeSpan.Zero);
    private ApiHost _host = null!;
    private HttpClient Client => _host.Client;

    public async Task InitializeAsync() => _host = await ApiHost.StartAsync();
    public async Task DisposeAsync() => await _host.DisposeAsync();

    private static WorkloadProcess App(string name, string state, int restarts = 0, int? lastExit = null) =>
        new(name, name, WorkloadRoles.App, state, state == WorkloadStates.Running ? 4242 : null, restarts, lastExit,
            state == WorkloadStates.Running ? Started : null);

    private async Task<WorkloadsResponse> GetAsync() =>
        (await Client.GetFromJsonAsync<WorkloadsResponse>("workloads", ApiJson.Options))!;

    [Fact]
    public async Task Nothing_reported_is_an_empty_list()
    {
        Assert.Empty((await GetAsync()).Launchers);
    }

    [Fact]
    public async Task Put_stores_the_launchers_list_and_get_returns_it_field_for_field()
    {
        WorkloadProcess[] processes =
        [
            App("catalog-v1-0", WorkloadStates.Restarting, restarts: 3, lastExit: 1),
            new("catalog-v1-0/proxy", "catalog-v1-0", WorkloadRoles.Proxy, WorkloadStates.Running, 77, 0, null, Started),
            new("ingress", "ingress", WorkloadRoles.Gateway, WorkloadStates.Running, 78, 0, null, Started),
        ];

        var put = await Client.PutAsJsonAsync("workloads", new WorkloadsReport("host/123", processes), ApiJson.Options);

        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        var launcher = Assert.Single((await GetAsync()).Launchers);
        Assert.Equal("host/123", launcher.Launcher);
        Assert.Equal(processes, launcher.Processes);
    }

    [Fact]
    public async Task The_wire_shape_is_camel_case_with_lower_case_words()
    {
        await Client.PutAsJsonAsync("workloads", new WorkloadsReport("up", [App("web-v1-0", WorkloadStates.Exited, 2, 137)]), ApiJson.Options);

        var json = await Client.GetStringAsync("workloads");

        Assert.Contains("\"launchers\"", json);
        Assert.Contains("\"lastExitCode\": 137", json);
        Assert.Contains("\"state\": \"exited\"", json);
        Assert.Contains("\"role\": \"app\"", json);
    }

    [Fact]
    public async Task A_second_put_replaces_the_first_for_that_launcher_only()
    {
        await Client.PutAsJsonAsync("workloads", new WorkloadsReport("up-a", [App("catalog-v1-0", WorkloadStates.Running), App("web-v1-0", WorkloadStates.Running)]), ApiJson.Options);
        await Client.PutAsJsonAsync("workloads", new WorkloadsReport("up-b", [App("other-v1-0", WorkloadStates.Running)]), ApiJson.Options);

        var put = await Client.PutAsJsonAsync("workloads", new WorkloadsReport("up-a", [App("catalog-v1-0", WorkloadStates.Exited, 1, 2)]), ApiJson.Options);
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);

        var launchers = (await GetAsync()).Launchers;
        Assert.Equal(["up-a: catalog-v1-0 exited", "up-b: other-v1-0 running"],
            launchers.SelectMany(l => l.Processes.Select(p => $"{l.Launcher}: {p.Name} {p.State}")));
    }

    [Fact]
    public async Task A_restart_is_accepted_for_a_reported_app_handed_to_its_launcher_and_followed_by_id()
    {
        await Client.PutAsJsonAsync("workloads", new WorkloadsReport("up", [App("catalog-v1-0", WorkloadStates.Running)]), ApiJson.Options);

        var missing = await Client.PostAsync("workloads/nope-0/restart", null);
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Contains("nope-0", (await missing.Content.ReadFromJsonAsync<ApiError>(ApiJson.Options))!.Error);

        var accepted = await Client.PostAsync("workloads/catalog-v1-0/restart", null);
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        var action = (await accepted.Content.ReadFromJsonAsync<WorkloadAction>(ApiJson.Options))!;
        Assert.Equal(("catalog-v1-0", "restart", "up", "pending"), (action.Instance, action.Action, action.Launcher, action.State));

        // The launcher's next report is answered with it; its following report carries its progress.
        var answer = await (await Client.PutAsJsonAsync("workloads", new WorkloadsReport("up", [App("catalog-v1-0", WorkloadStates.Running)]), ApiJson.Options))
            .Content.ReadFromJsonAsync<WorkloadsResponse>(ApiJson.Options);
        Assert.Equal([action.Id], answer!.Actions!.Select(a => a.Id));
        await Client.PutAsJsonAsync("workloads", new WorkloadsReport("up", [App("catalog-v1-0", WorkloadStates.Running)], ["catalog-v1-0"],
            [action with { State = WorkloadActionStates.Done, Message = "restarted" }]), ApiJson.Options);

        var followed = await Client.GetFromJsonAsync<WorkloadAction>($"workloads/actions/{action.Id}", ApiJson.Options);
        Assert.Equal(("done", "restarted"), (followed!.State, followed.Message));
        Assert.Equal(["catalog-v1-0"], Assert.Single((await GetAsync()).Launchers).Draining!);
        Assert.Equal(HttpStatusCode.NotFound, (await Client.GetAsync("workloads/actions/nope")).StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, (await Client.PostAsync("workloads/catalog-v1-0/stop", null)).StatusCode);
    }

    [Fact]
    public async Task An_invalid_report_is_400_naming_every_bad_field_and_stores_nothing()
    {
        var body = """
            {"launcher": "", "processes": [
              {"name": "a", "instance": "a", "role": "app", "state": "running", "restarts": 0},
              {"name": "a", "instance": "", "role": "database", "state": "asleep", "restarts": -1}
            ]}
            """;

        var response = await Client.PutAsync("workloads", new StringContent(body, Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = (await response.Content.ReadFromJsonAsync<ApiError>(ApiJson.Options))!.Error;
        foreach (var expected in new[] { "launcher: required", "processes[1].name: \"a\" is reported twice", "processes[1].instance: required",
                     "processes[1].role: \"database\"", "processes[1].state: \"asleep\"", "processes[1].restarts" })
            Assert.Contains(expected, error);
        Assert.Empty((await GetAsync()).Launchers);
    }

    [Theory]
    [InlineData("{ not json")]
    [InlineData("[]")]
    [InlineData("{\"launcher\": \"up\"}")]
    public async Task A_body_that_is_not_a_report_is_400(string body)
    {
        var response = await Client.PutAsync("workloads", new StringContent(body, Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.False(string.IsNullOrEmpty((await response.Content.ReadFromJsonAsync<ApiError>(ApiJson.Options))!.Error));
    }
}
