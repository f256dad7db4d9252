using System.Globalization;

namespace Shop;

/// <summary>
/// What every mode reads: the mesh gives it env (PORT, WEFT_INSTANCE, WEFT_VERSION, WEFT_UPSTREAM_*);
/// arguments override env so the apps also run by hand outside the mesh.
/// </summary>
internal sealed record ShopOptions(int Port, string Version, string Instance, double Rps, IReadOnlyList<string> Targets)
{
    public static ShopOptions Parse(string[] args)
    {
        string? Arg(string name)
        {
            for (var i = 0; i < args.Length - 1; i++)
                if (args[i] == name) return args[i + 1];
            return null;
        }

        var port = int.Parse(Arg("--port") ?? Env("PORT") ?? "8080", CultureInfo.InvariantCulture);
        var version = Arg("--version") ?? Env("WEFT_VERSION") ?? "v1";
        var instance = Arg("--instance") ?? Env("WEFT_INSTANCE") ?? $"{Environment.MachineName}-{Environment.ProcessId}";
        var rps = double.Parse(Arg("--rps") ?? "20", CultureInfo.InvariantCulture);
        var targets = new List<string>();
        for (var i = 0; i < args.Length - 1; i++)
            if (args[i] == "--target") targets.Add(args[i + 1]);
        return new ShopOptions(port, version, instance, rps, targets);
    }

    public static string? Env(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : null;

    /// <summary>The host:port the mesh gave for an upstream service (WEFT_UPSTREAM_CATALOG, ...).</summary>
    public static string? Upstream(string service) =>
        Env("WEFT_UPSTREAM_" + service.ToUpperInvariant().Replace('-', '_'));
}
