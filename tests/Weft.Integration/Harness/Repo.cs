namespace Weft.Integration.Harness;

/// <summary>Where the repository and its built binaries are (./test.sh builds Release into .build/).</summary>
internal static class Repo
{
    public static string Root { get; } = FindRoot();

    public static string WeftDll => Path.Combine(Root, ".build", "bin", "Weft.Cli", "release", "weft.dll");
    public static string ShopTopology => Path.Combine(Root, "examples", "shop", "mesh.yaml");

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "weft.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("weft.sln not found above " + AppContext.BaseDirectory);
    }
}
