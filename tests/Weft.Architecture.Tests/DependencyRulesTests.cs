using System.Xml.Linq;

namespace Weft.Architecture.Tests;

// docs/ARCHITECTURE.md, "Dependency rules": arrows point inward, Control and Proxy never meet.
public sealed class DependencyRulesTests
{
    private static readonly Dictionary<string, string[]> Allowed = new()
    {
        ["Weft.Model"] = [],
        ["Weft.Protocol"] = [],
        ["Weft.Control"] = ["Weft.Model", "Weft.Protocol"],
        ["Weft.Proxy"] = ["Weft.Model", "Weft.Protocol"],
        ["Weft.Cli"] = ["Weft.Model", "Weft.Protocol", "Weft.Control", "Weft.Proxy"],
        ["Weft.Proxy.Native"] = ["Weft.Proxy"],
        ["Shop"] = ["Weft.Protocol"],
    };

    internal static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "weft.sln")))
            dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("weft.sln not found above " + AppContext.BaseDirectory);
    }

    internal static IEnumerable<string> ProjectReferences(string csproj) =>
        XDocument.Load(csproj).Descendants("ProjectReference")
            .Select(e => Path.GetFileNameWithoutExtension(e.Attribute("Include")!.Value.Replace('\\', '/')));

    public static TheoryData<string> ShippedProjects()
    {
        var data = new TheoryData<string>();
        var root = RepoRoot();
        foreach (var p in Directory.GetFiles(Path.Combine(root, "src"), "*.csproj", SearchOption.AllDirectories)
                     .Concat(Directory.GetFiles(Path.Combine(root, "examples"), "*.csproj", SearchOption.AllDirectories)))
            data.Add(Path.GetRelativePath(root, p));
        return data;
    }

    [Theory]
    [MemberData(nameof(ShippedProjects))]
    public void Project_references_only_point_inward(string relativePath)
    {
        var name = Path.GetFileNameWithoutExtension(relativePath);
        Assert.True(Allowed.TryGetValue(name, out var allowed),
            $"{relativePath} is not in the dependency rules: add it to docs/ARCHITECTURE.md and this test");
        var wrong = ProjectReferences(Path.Combine(RepoRoot(), relativePath)).Where(r => !allowed.Contains(r)).ToList();
        Assert.True(wrong.Count == 0, $"{relativePath} references {string.Join(", ", wrong)}; allowed: [{string.Join(", ", allowed)}]");
    }

    [Fact]
    public void Rules_catch_a_wrong_arrow()
    {
        // The rule check itself must be able to fail: a Proxy -> Control reference breaks it.
        var tmp = Path.Combine(Path.GetTempPath(), $"weft-arch-{Guid.NewGuid():N}.csproj");
        File.WriteAllText(tmp, "<Project><ItemGroup><ProjectReference Include=\"../Weft.Control/Weft.Control.csproj\" /></ItemGroup></Project>");
        try
        {
            Assert.DoesNotContain(ProjectReferences(tmp), r => Allowed["Weft.Proxy"].Contains(r));
        }
        finally { File.Delete(tmp); }
    }
}
