using System.Net;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Shop;

/// <summary>The Kestrel host every server mode shares: loopback only, one protocol, short drain.</summary>
internal static class ShopHost
{
    // weft up stops all apps within 10 s; leave the proxies and the control plane time after us.
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(5);

    public static WebApplicationBuilder CreateBuilder(ShopOptions options, HttpProtocols protocols)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, options.Port, l => l.Protocols = protocols));
        builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = DrainTimeout);
        builder.Services.ConfigureHttpJsonOptions(j => j.SerializerOptions.TypeInfoResolverChain.Insert(0, ShopJson.Default));
        // The supervisor prefixes each line with the instance; one line per event is all it needs.
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(c => { c.SingleLine = true; c.TimestampFormat = "HH:mm:ss "; });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        return builder;
    }

    public static async Task RunAsync(WebApplication app, string what)
    {
        var lifetime = app.Services.GetRequiredService<IHostApplicationLifetime>();
        lifetime.ApplicationStarted.Register(() => Console.WriteLine($"{what} listening on {string.Join(", ", app.Urls)}"));
        lifetime.ApplicationStopping.Register(() => Console.WriteLine($"{what} draining"));
        await app.RunAsync();
        Console.WriteLine($"{what} stopped");
    }
}
