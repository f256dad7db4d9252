using Shop;

// One executable, four apps: the topology file picks the mode per workload.
var mode = args.Length > 0 ? args[0] : "";
var options = ShopOptions.Parse(args.Skip(1).ToArray());
switch (mode)
{
    case "web": await WebApp.RunAsync(options); return 0;
    case "catalog": await CatalogApp.RunAsync(options); return 0;
    case "ratings": await RatingsApp.RunAsync(options); return 0;
    case "loadgen": return await LoadGen.RunAsync(options);
    default:
        Console.Error.WriteLine("usage: shop web|catalog|ratings|loadgen [--port N] [--version V] [--instance ID] [--rps N] [--target URL]");
        return 2;
}
