using System.Runtime.CompilerServices;
using Weft.Model.Parsing;
using Weft.Model.Serialization;

namespace Weft.Model.Tests.Parsing;

/// <summary>
/// Golden files: Golden/NAME.yaml is parsed; Golden/NAME.golden holds the expected outcome, the
/// canonical JSON of each resource (indented) then every error, one per line. Run with
/// WEFT_UPDATE_GOLDEN=1 to rewrite the .golden files after an intended change, then review the diff.
/// </summary>
public class GoldenTests
{
    private static string Folder([CallerFilePath] string here = "") => Path.Combine(Path.GetDirectoryName(here)!, "Golden");

    public static TheoryData<string> Cases()
    {
        var data = new TheoryData<string>();
        foreach (var file in Directory.GetFiles(Folder(), "*.yaml").Order(StringComparer.Ordinal))
            data.Add(Path.GetFileNameWithoutExtension(file));
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Matches_golden(string name)
    {
        var input = File.ReadAllText(Path.Combine(Folder(), name + ".yaml"));
        var result = ResourceParser.Parse(input, name + ".yaml");
        var actual = string.Join("\n", result.Resources.Select(r => ResourceJson.Serialize(r, indented: true)).Concat(result.Errors.Select(e => e.ToString()))) + "\n";
        var goldenPath = Path.Combine(Folder(), name + ".golden");
        if (Environment.GetEnvironmentVariable("WEFT_UPDATE_GOLDEN") == "1") File.WriteAllText(goldenPath, actual);
        Assert.True(File.Exists(goldenPath), $"missing {goldenPath}; run with WEFT_UPDATE_GOLDEN=1 to create it");
        Assert.Equal(File.ReadAllText(goldenPath).ReplaceLineEndings("\n"), actual);
    }
}
