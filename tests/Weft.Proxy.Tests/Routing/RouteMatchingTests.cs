using System.Net;
using Weft.Proxy.Pipeline;
using Weft.Protocol.Discovery;
using Weft.Proxy.Config;
using Weft.Proxy.Tests.Support;

namespace Weft.Proxy.Tests.Routing;

public sealed class RouteMatchingTests
{
    private static Weft.Proxy.Routing.RouteTableRuntime Compile(params Route[] routes)
    {
        // Route tables are reachable from listeners only; a listener that is never bound gets at it.
        var result = new RuntimeBuilder().Build(new ConfigBuilder().Listener(1000).Routes("rt", routes).Build(), ProxyRuntime.Empty);
        Assert.Empty(result.Errors);
        return result.Runtime!.ListenersByPort[1000].Routes;
    }

    private static RequestContext Request(string path, string method = "GET", string? query = null, params (string, string)[] headers)
    {
        var fields = new HeaderList();
        foreach (var (name, value) in headers)
            fields.Add(name, value);
        return new RequestContext { Method = method, Path = path, Query = query ?? "", Headers = fields };
    }

    [Theory]
    [InlineData("/foo", true)]
    [InlineData("/foo/", true)]
    [InlineData("/foo/bar", true)]
    [InlineData("/foobar", false)]
    [InlineData("/fo", false)]
    [InlineData("/", false)]
    public void Prefix_match_respects_path_segments(string path, bool matches)
    {
        var table = Compile(ConfigBuilder.Route("r", [ConfigBuilder.Prefix("/foo")], ("a", 1)));
        Assert.Equal(matches, table.Select(Request(path)) is not null);
    }

    [Fact]
    public void Prefix_with_trailing_slash_and_root_prefix()
    {
        var table = Compile(ConfigBuilder.Route("r", [ConfigBuilder.Prefix("/foo/")], ("a", 1)));
        Assert.NotNull(table.Select(Request("/foo")));
        Assert.NotNull(table.Select(Request("/foo/x")));
        Assert.Null(table.Select(Request("/foox")));
        var root = Compile(ConfigBuilder.Route("r", [ConfigBuilder.Prefix("/")], ("a", 1)));
        Assert.NotNull(root.Select(Request("/anything/at/all")));
    }

    [Fact]
    public void Exact_and_regex_are_full_matches()
    {
        var table = Compile(
            ConfigBuilder.Route("exact", [ConfigBuilder.Exact("/a")], ("a", 1)),
            ConfigBuilder.Route("regex", [ConfigBuilder.Regex("/items/[0-9]+")], ("b", 1)));
        Assert.Equal("exact", table.Select(Request("/a"))?.Name);
        Assert.Null(table.Select(Request("/a/")));
        Assert.Equal("regex", table.Select(Request("/items/42"))?.Name);
        Assert.Null(table.Select(Request("/items/42/x")));
        Assert.Null(table.Select(Request("/x/items/42")));
    }

    [Fact]
    public void Headers_query_and_method_must_all_hold_within_one_match()
    {
        var match = ConfigBuilder.Prefix("/");
        match.Headers.Add(new HeaderMatch { Name = "X-Canary", Value = "yes" });
        match.Headers.Add(new HeaderMatch { Name = "x-user", Kind = HeaderMatch.Types.Kind.Regex, Value = "adm.*" });
        match.QueryParams.Add(new QueryMatch { Name = "debug", Value = "1" });
        match.Method = "POST";
        var table = Compile(ConfigBuilder.Route("all", [match], ("a", 1)));

        Assert.NotNull(table.Select(Request("/x", "POST", "?debug=1", ("x-canary", "yes"), ("X-User", "admin"))));
        Assert.Null(table.Select(Request("/x", "GET", "?debug=1", ("x-canary", "yes"), ("X-User", "admin"))));
        Assert.Null(table.Select(Request("/x", "POST", "?Debug=1", ("x-canary", "yes"), ("X-User", "admin"))));
        Assert.Null(table.Select(Request("/x", "POST", "?debug=1", ("x-canary", "YES"), ("X-User", "admin"))));
        Assert.Null(table.Select(Request("/x", "POST", "?debug=1", ("x-canary", "yes"), ("X-User", "xadmin"))));
        Assert.Null(table.Select(Request("/x", "POST", "?debug=1", ("X-User", "admin"))));
    }

    [Fact]
    public void Any_of_the_matches_selects_the_route_and_first_route_wins()
    {
        var table = Compile(
            ConfigBuilder.Route("first", [ConfigBuilder.Exact("/one"), ConfigBuilder.Exact("/two")], ("a", 1)),
            ConfigBuilder.Route("catch-all", null, ("b", 1)));
        Assert.Equal("first", table.Select(Request("/one"))?.Name);
        Assert.Equal("first", table.Select(Request("/two"))?.Name);
        Assert.Equal("catch-all", table.Select(Request("/three"))?.Name);
    }

    [Fact]
    public async Task Precedence_end_to_end_path_header_and_method()
    {
        await using var exact = await Backend.StartAsync("exact");
        await using var header = await Backend.StartAsync("header");
        await using var post = await Backend.StartAsync("post");
        await using var prefix = await Backend.StartAsync("prefix");
        var headerMatch = ConfigBuilder.Prefix("/api");
        headerMatch.Headers.Add(new HeaderMatch { Name = "x-version", Value = "2" });
        var postMatch = ConfigBuilder.Prefix("/api");
        postMatch.Method = "POST";
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        // The control plane sends routes already in Gateway API precedence order; the proxy takes the first that holds.
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port)
            .Routes("rt",
                ConfigBuilder.Route("exact", [ConfigBuilder.Exact("/api/health")], ("exact", 1)),
                ConfigBuilder.Route("header", [headerMatch], ("header", 1)),
                ConfigBuilder.Route("post", [postMatch], ("post", 1)),
                ConfigBuilder.Route("prefix", [ConfigBuilder.Prefix("/api")], ("prefix", 1)))
            .Cluster("exact", exact.Port).Cluster("header", header.Port).Cluster("post", post.Port).Cluster("prefix", prefix.Port)
            .Build());
        using var client = TestProxy.Client(port);

        async Task<string> Served(HttpRequestMessage request)
        {
            using var response = await client.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            return Assert.Single(response.Headers.GetValues("x-backend"));
        }

        Assert.Equal("exact", await Served(new HttpRequestMessage(HttpMethod.Get, "/api/health")));
        var versioned = new HttpRequestMessage(HttpMethod.Post, "/api/items");
        versioned.Headers.Add("x-version", "2");
        Assert.Equal("header", await Served(versioned));
        Assert.Equal("post", await Served(new HttpRequestMessage(HttpMethod.Post, "/api/items")));
        Assert.Equal("prefix", await Served(new HttpRequestMessage(HttpMethod.Get, "/api/items")));
        using var miss = await client.GetAsync("/apix");
        Assert.Equal(HttpStatusCode.NotFound, miss.StatusCode);
    }

    [Fact]
    public async Task Header_modifiers_apply_to_request_and_response()
    {
        await using var backend = await Backend.StartAsync("echo", ctx =>
        {
            ctx.Response.Headers["x-internal"] = "secret";
            return Backend.EchoAsync(ctx, "echo");
        });
        var route = ConfigBuilder.Route("echo");
        route.RequestHeaderModifiers.Add(new HeaderModifier { Op = HeaderModifier.Types.Op.Set, Name = "x-set", Value = "s" });
        route.RequestHeaderModifiers.Add(new HeaderModifier { Op = HeaderModifier.Types.Op.Add, Name = "x-add", Value = "b" });
        route.RequestHeaderModifiers.Add(new HeaderModifier { Op = HeaderModifier.Types.Op.Remove, Name = "x-drop" });
        route.ResponseHeaderModifiers.Add(new HeaderModifier { Op = HeaderModifier.Types.Op.Remove, Name = "x-internal" });
        route.ResponseHeaderModifiers.Add(new HeaderModifier { Op = HeaderModifier.Types.Op.Set, Name = "x-served-by", Value = "weft" });
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        await proxy.ApplyOkAsync(new ConfigBuilder().Listener(port).Routes("rt", route).Cluster("echo", backend.Port).Build());
        using var client = TestProxy.Client(port);
        var request = new HttpRequestMessage(HttpMethod.Get, "/");
        request.Headers.Add("x-set", "original");
        request.Headers.Add("x-add", "a");
        request.Headers.Add("x-drop", "gone");
        using var response = await client.SendAsync(request);
        var echo = await response.Content.ReadAsStringAsync();
        Assert.Contains("x-set: s\n", echo);
        Assert.Matches(@"x-add: a, ?b\n", echo);
        Assert.DoesNotContain("x-drop", echo);
        Assert.False(response.Headers.Contains("x-internal"));
        Assert.Equal("weft", Assert.Single(response.Headers.GetValues("x-served-by")));
    }
}
