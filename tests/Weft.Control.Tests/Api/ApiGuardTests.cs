using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Weft.Control.Api;
using Weft.Model.Parsing;

namespace Weft.Control.Tests.Api;

/// <summary>
/// The API refuses what is not the CLI or a tool holding the token, and hostile input costs an error,
/// never the control plane (docs/security.md, "The control plane's API"; docs/config.md, "Input limits").
/// Every call goes through a real Kestrel.
/// </summary>
public sealed class ApiGuardTests : IAsyncLifetime
{
    private const string Service = "apiVersion: weft.dev/v1\nkind: Service\nmetadata: { name: web }\nspec: { ports: [{ port: 80 }] }\n";

    private ApiHost _host = null!;

    public async Task InitializeAsync() => _host = await ApiHost.StartAsync();
    public async Task DisposeAsync() => await _host.DisposeAsync();

    private static string ApplyBody(string yaml) =>
        JsonSerializer.Serialize(new ApplyRequest([new ApiFile("input.yaml", yaml)]), ApiJson.Options);

    /// <summary>A request with no default headers: only what the test puts on it.</summary>
    private async Task<(HttpStatusCode Status, string Error, HttpResponseMessage Response)> SendAsync(HttpRequestMessage request)
    {
        using var bare = new HttpClient { BaseAddress = _host.Client.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        var response = await bare.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        var error = response.IsSuccessStatusCode ? "" : JsonNode.Parse(body)?["error"]?.GetValue<string>() ?? body;
        return (response.StatusCode, error, response);
    }

    private string Token => File.ReadAllText(Path.Combine(_host.DataDir, ApiToken.FileName)).Trim();

    private async Task AssertNothingStoredAsync()
    {
        var revision = await _host.Client.GetFromJsonAsync<RevisionResponse>("revision", ApiJson.Options);
        Assert.Equal(0, revision!.Revision);
    }

    [Theory]
    [InlineData("GET", "resources")]
    [InlineData("GET", "history")]
    [InlineData("GET", "proxies")]
    [InlineData("GET", "workloads")]
    [InlineData("POST", "apply")]
    [InlineData("POST", "rollback")]
    [InlineData("POST", "tokens")]
    [InlineData("DELETE", "resources/service/default/web")]
    public async Task Every_call_without_the_token_is_refused_with_where_to_find_it(string method, string path)
    {
        var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (method == "POST")
            request.Content = new StringContent(ApplyBody(Service), Encoding.UTF8, "application/json");
        var (status, error, response) = await SendAsync(request);
        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);
        Assert.Contains("api-token", error);
        Assert.Contains("WEFT_TOKEN", error);
        await AssertNothingStoredAsync();
    }

    [Fact]
    public async Task A_wrong_token_is_refused_and_the_right_one_is_served()
    {
        var wrong = new HttpRequestMessage(HttpMethod.Post, "apply") { Content = new StringContent(ApplyBody(Service), Encoding.UTF8, "application/json") };
        wrong.Headers.Authorization = new AuthenticationHeaderValue("Bearer", new string('0', 64));
        var (status, error, _) = await SendAsync(wrong);
        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.Contains("does not match", error);
        await AssertNothingStoredAsync();

        var right = new HttpRequestMessage(HttpMethod.Post, "apply") { Content = new StringContent(ApplyBody(Service), Encoding.UTF8, "application/json") };
        right.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(right)).Status);
    }

    [Fact]
    public async Task A_browsers_no_cors_text_plain_post_from_a_web_page_is_refused()
    {
        // What a page at another origin can make a browser send with fetch(url, {method: "POST", mode: "no-cors", body}).
        var request = new HttpRequestMessage(HttpMethod.Post, "apply") { Content = new StringContent(ApplyBody(Service), Encoding.UTF8, "text/plain") };
        request.Headers.Add("Origin", "http://evil.example");
        request.Headers.Add("Sec-Fetch-Site", "cross-site");
        request.Headers.Add("Sec-Fetch-Mode", "no-cors");
        var (status, error, _) = await SendAsync(request);
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Contains("cross-origin", error);
        await AssertNothingStoredAsync();
    }

    [Fact]
    public async Task A_cross_origin_request_is_refused_even_with_the_token()
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "resources");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        request.Headers.Add("Origin", "http://localhost:3000");
        var (status, error, _) = await SendAsync(request);
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Contains("Origin: http://localhost:3000", error);
    }

    [Fact]
    public async Task A_body_that_is_not_json_is_refused_before_it_is_read()
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "apply") { Content = new StringContent(ApplyBody(Service), Encoding.UTF8, "text/plain") };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        var (status, error, _) = await SendAsync(request);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, status);
        Assert.Contains("must be application/json, not text/plain", error);
        await AssertNothingStoredAsync();
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_body_past_the_limit_is_refused_with_413(bool withLength)
    {
        var yaml = Service + "#" + new string('x', (int)ApiGuard.MaxBodyBytes);
        var json = Encoding.UTF8.GetBytes(ApplyBody(yaml));
        HttpContent content = withLength ? new ByteArrayContent(json) : new StreamContent(new MemoryStream(json));   // a stream of unknown length goes chunked
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        var request = new HttpRequestMessage(HttpMethod.Post, "apply") { Content = content };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        if (!withLength)
            request.Headers.TransferEncodingChunked = true;
        var (status, error, _) = await SendAsync(request);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, status);
        Assert.Contains("larger than the 16 MiB", error);
        await AssertNothingStoredAsync();
    }

    public static TheoryData<string, string, string> HostileInputs() => new()
    {
        { "100 000 levels deep", Service.Replace("spec: { ports: [{ port: 80 }] }", "spec: " + new string('[', 100_000) + new string(']', 100_000), StringComparison.Ordinal), "nested more than 100 levels" },
        { "an alias bomb", AliasBomb(), "more than 100000 nodes" },
        { "a megabyte of ---", string.Concat(Enumerable.Repeat("---\n", 256 * 1024)), "no resources found" },
        { "a megabyte of --- x", string.Concat(Enumerable.Repeat("--- x\n", 1024 * 1024 / 6)), "more than 10000 documents" },
    };

    private static string AliasBomb()
    {
        var text = new StringBuilder("apiVersion: weft.dev/v1\nkind: Service\nmetadata: { name: web }\nspec:\n  a0: &a0 [lol]\n");
        for (var i = 1; i <= 9; i++)
            text.Append($"  a{i}: &a{i} [").AppendJoin(", ", Enumerable.Repeat($"*a{i - 1}", 10)).Append("]\n");
        return text.ToString();
    }

    [Theory]
    [MemberData(nameof(HostileInputs))]
    public async Task Hostile_yaml_gets_a_clear_error_within_a_second_and_the_control_plane_keeps_serving(string what, string yaml, string expected)
    {
        // The first call pays for JIT and warm-up; the bound is for the input's own cost.
        await _host.Client.PostAsJsonAsync("apply", new ApplyRequest([new ApiFile("warm.yaml", "a: 1\n")]), ApiJson.Options);
        var clock = Stopwatch.StartNew();
        var response = await _host.Client.PostAsJsonAsync("apply", new ApplyRequest([new ApiFile("hostile.yaml", yaml)]), ApiJson.Options);
        var elapsed = clock.Elapsed;
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode is HttpStatusCode.UnprocessableEntity or HttpStatusCode.BadRequest, $"{what}: {(int)response.StatusCode} {body}");
        Assert.Contains(expected, body);
        Assert.True(elapsed < TimeSpan.FromSeconds(1), $"{what}: answered in {elapsed.TotalMilliseconds:0} ms");
        await AssertNothingStoredAsync();
        Assert.Equal(HttpStatusCode.OK, (await _host.Client.PostAsJsonAsync("apply", new ApplyRequest([new ApiFile("ok.yaml", Service)]), ApiJson.Options)).StatusCode);
    }

    [Fact]
    public void The_token_is_made_once_readable_by_its_owner_only_and_kept_across_starts()
    {
        var path = Path.Combine(_host.DataDir, ApiToken.FileName);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        var token = Token;
        Assert.Matches("^[0-9a-f]{64}$", token);
        var again = ApiToken.LoadOrCreate(_host.DataDir);
        Assert.True(again.Accepts("Bearer " + token));
        Assert.Equal(token, Token);

        // A token file someone widened is narrowed again at the next start.
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        ApiToken.LoadOrCreate(_host.DataDir);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
    }
}
