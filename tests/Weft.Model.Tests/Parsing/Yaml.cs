using Weft.Model.Parsing;
using Weft.Model.Resources;

namespace Weft.Model.Tests.Parsing;

/// <summary>Test helpers: parse text and assert on it.</summary>
internal static class Yaml
{
    public static T Single<T>(string yaml) where T : Resource
    {
        var result = ResourceParser.Parse(yaml, "test.yaml");
        Assert.True(result.Ok, string.Join("\n", result.Errors));
        return Assert.IsAssignableFrom<T>(Assert.Single(result.Resources));
    }

    public static IReadOnlyList<ValidationError> Errors(string yaml)
    {
        var result = ResourceParser.Parse(yaml, "test.yaml");
        Assert.False(result.Ok, "expected errors");
        return result.Errors;
    }

    public static ValidationError Error(string yaml)
    {
        var errors = Errors(yaml);
        Assert.True(errors.Count == 1, "expected one error, got:\n" + string.Join("\n", errors));
        return errors[0];
    }

    public static ValidationError At(this IReadOnlyList<ValidationError> errors, string path)
    {
        var match = errors.Where(e => e.Path == path).ToList();
        Assert.True(match.Count == 1, $"expected one error at {path}, got:\n" + string.Join("\n", errors));
        return match[0];
    }

    public static EquatableList<T> List<T>(params T[] items) => new(items);
}
