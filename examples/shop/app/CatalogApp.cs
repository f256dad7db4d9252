using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Shop;

/// <summary>`shop catalog`: the product list, stamped with the version and instance that served it.</summary>
internal static class CatalogApp
{
    private static readonly Product[] Products =
    [
        new("p1", "Loom", 129.00m),
        new("p2", "Shuttle", 19.50m),
        new("p3", "Warp thread (1 km)", 7.25m),
    ];

    public static async Task RunAsync(ShopOptions options)
    {
        var app = ShopHost.CreateBuilder(options, HttpProtocols.Http1).Build();
        var body = new ProductList(options.Version, options.Instance, Products);
        app.MapGet("/products", (HttpContext http) =>
        {
            http.Response.Headers["x-catalog-version"] = options.Version;
            return Results.Json(body, ShopJson.Default.ProductList);
        });
        app.MapGet("/healthz", () => "ok");
        await ShopHost.RunAsync(app, $"catalog {options.Version} {options.Instance}");
    }
}
