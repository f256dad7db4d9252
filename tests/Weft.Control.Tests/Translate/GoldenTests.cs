using Weft.Control.Translate;

namespace Weft.Control.Tests.Translate;

/// <summary>
/// Golden files (Kuma's habit): each folder under Golden/ holds config.yaml (resources), registry.json
/// (workloads), node.json (the proxy asking) and expected.json (what that proxy must receive).
/// WEFT_UPDATE_GOLDEN=1 rewrites expected.json after an intended change; review the diff by hand,
/// because a golden file that enshrines a bug is worse than none.
/// </summary>
public class GoldenTests
{
    public static TheoryData<string> Cases()
    {
        var data = new TheoryData<string>();
        foreach (var dir in Directory.GetDirectories(TranslationInputs.GoldenFolder()).Order(StringComparer.Ordinal))
            data.Add(Path.GetFileName(dir));
        return data;
    }

    [Fact]
    public void Golden_cases_are_found()
    {
        // Without this a wrong folder would yield zero theory rows and a green run that tested nothing.
        Assert.True(Cases().Count >= 10, $"only {Cases().Count} cases under {TranslationInputs.GoldenFolder()}");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Translation_matches_golden(string name)
    {
        var dir = Path.Combine(TranslationInputs.GoldenFolder(), name);
        var config = TranslationInputs.Config(File.ReadAllText(Path.Combine(dir, "config.yaml")), name + "/config.yaml");
        var registry = TranslationInputs.Registry(File.ReadAllText(Path.Combine(dir, "registry.json")));
        var node = TranslationInputs.Node(File.ReadAllText(Path.Combine(dir, "node.json")));

        var actual = TranslationInputs.Render(ProxyTranslator.Translate(new MeshIndex(config, registry), node));

        var expectedPath = Path.Combine(dir, "expected.json");
        if (Environment.GetEnvironmentVariable("WEFT_UPDATE_GOLDEN") == "1") File.WriteAllText(expectedPath, actual);
        Assert.True(File.Exists(expectedPath), $"missing {expectedPath}; run with WEFT_UPDATE_GOLDEN=1 to create it");
        Assert.Equal(File.ReadAllText(expectedPath).ReplaceLineEndings("\n"), actual);
    }
}
