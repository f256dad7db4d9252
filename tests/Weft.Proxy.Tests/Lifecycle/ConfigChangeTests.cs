using System.Net;
using System.Text;
using Microsoft.AspNetCore.Http;
using Weft.Proxy.Tests.Support;

namespace Weft.Proxy.Tests.Lifecycle;

/// <summary>A config change never drops an open connection or a request in flight.</summary>
public sealed class ConfigChangeTests
{
    [Fact]
    public async Task A_streaming_response_survives_a_new_listener_new_routes_and_changed_endpoints()
    {
        var next = Channel();
        await using var streaming = await Backend.StartAsync("stream", async ctx =>
        {
            // Headers at once, then one line per token the test hands over, flushed; "end" ends the response.
            await ctx.Response.StartAsync();
            await ctx.Response.Body.FlushAsync();
            while (await next.Reader.ReadAsync(ctx.RequestAborted) is var line && line != "end")
            {
                await ctx.Response.WriteAsync(line + "\n");
                await ctx.Response.Body.FlushAsync();
            }
        });
        await using var other = await Backend.StartAsync("other");
        await using var proxy = await TestProxy.StartAsync();
        var port = TestProxy.FreePort();
        var config = new ConfigBuilder().Listener(port).Routes("rt", ConfigBuilder.Route("stream")).Cluster("stream", streaming.Port);
        await proxy.ApplyOkAsync(config.Build(1));

        using var client = TestProxy.Client(port);
        using var response = await client.GetAsync("/", HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(), Encoding.UTF8);
        async Task ExpectLineAsync(string line)
        {
            await next.Writer.WriteAsync(line);
            Assert.Equal(line, await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10)));
        }
        await ExpectLineAsync("before");

        var added = TestProxy.FreePort();
        await proxy.ApplyOkAsync(config.Listener(added, "rt2").Routes("rt2", ConfigBuilder.Route("other")).Cluster("other", other.Port).Build(2));
        await ExpectLineAsync("after a listener was added");
        using (var addedClient = TestProxy.Client(added))
            Assert.Contains("backend: other", await addedClient.GetStringAsync("/"));

        // The stream's own route now goes elsewhere and its cluster's endpoints change.
        await proxy.ApplyOkAsync(config.Routes("rt", ConfigBuilder.Route("other")).Cluster("stream", other.Port).Build(3));
        await ExpectLineAsync("after its route and endpoints changed");

        await proxy.ApplyOkAsync(config.Remove($"listener/127.0.0.1_{added}").Build(4));
        await ExpectLineAsync("after a listener was removed");

        await next.Writer.WriteAsync("end");
        Assert.Null(await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        // New requests follow the new config.
        Assert.Contains("backend: other", await client.GetStringAsync("/"));
    }

    private static System.Threading.Channels.Channel<string> Channel() => System.Threading.Channels.Channel.CreateUnbounded<string>();
}
