using System.Net;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Weft.Proxy.Tests.Support;

/// <summary>A real app behind the proxy: Kestrel on 127.0.0.1:0. The default handler answers with its name and echoes request headers.</summary>
public sealed class Backend : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _requests;

    private Backend(WebApplication app, string name, int port)
    {
        _app = app;
        Name = name;
        Port = port;
    }

    public string Name { get; }
    public int Port { get; }
    public int Requests => Volatile.Read(ref _requests);

    public static async Task<Backend> StartAsync(string name, Func<HttpContext, Task>? handler = null, bool http2Only = false)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = null;
            k.Listen(IPAddress.Loopback, 0, o => o.Protocols = http2Only ? HttpProtocols.Http2 : HttpProtocols.Http1);
        });
        var app = builder.Build();
        Backend? self = null;
        app.Run(async context =>
        {
            Interlocked.Increment(ref self!._requests);
            context.Response.Headers["x-backend"] = name;
            if (handler is not null)
                await handler(context);
            else
                await EchoAsync(context, name);
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        self = new Backend(app, name, new Uri(address).Port);
        return self;
    }

    /// <summary>"backend: NAME" then "header: value" lines for every request header.</summary>
    public static Task EchoAsync(HttpContext context, string name)
    {
        var sb = new StringBuilder();
        sb.Append("backend: ").Append(name).Append('\n');
        sb.Append("path: ").Append(context.Request.Path).Append(context.Request.QueryString).Append('\n');
        sb.Append("target: ").Append(context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestFeature>()?.RawTarget).Append('\n');
        foreach (var (key, value) in context.Request.Headers)
            sb.Append(key.ToLowerInvariant()).Append(": ").Append(value.ToString()).Append('\n');
        context.Response.ContentType = "text/plain";
        return context.Response.WriteAsync(sb.ToString());
    }

    public async ValueTask DisposeAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        await _app.StopAsync(cts.Token);
        await _app.DisposeAsync();
    }
}
