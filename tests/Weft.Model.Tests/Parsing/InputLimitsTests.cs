using System.Text;
using Weft.Model.Parsing;

namespace Weft.Model.Tests.Parsing;

/// <summary>
/// Hostile YAML costs an error with its line and field path, never the control plane: each input
/// here once crashed it (a stack overflow), or stalled it for minutes (docs/config.md, "Input limits").
/// </summary>
public class InputLimitsTests
{
    private const string Head = "apiVersion: weft.dev/v1\nkind: Service\nmetadata: { name: web }\n";

    [Theory]
    [InlineData(" [", "]", 5)]
    [InlineData(" {a: ", "}", 5)]
    [InlineData("\n  - ", "", 6)]
    public void Nesting_100000_levels_deep_is_an_error_at_the_level_past_the_limit(string open, string close, int line)
    {
        // Block lists nest on one line too ("- - - x"): every shape of nesting the parser builds recursively.
        var deep = open + string.Concat(Enumerable.Repeat(open.TrimStart('\n', ' '), 99_999)) + "x" + string.Concat(Enumerable.Repeat(close, 100_000));
        var e = Yaml.Error(Head + "spec:\n  ports:" + deep + "\n");
        Assert.Contains($"nested more than {YamlLimits.MaxDepth} levels", e.Message);
        Assert.Equal(line, e.Line);
        Assert.StartsWith("spec.ports", e.Path);
    }

    [Fact]
    public void Nesting_at_the_limit_is_read()
    {
        // 100 levels: the document's own mapping and 99 lists; the binder then says what it thinks of the shape.
        var deep = new string('[', 99) + "1" + new string(']', 99);
        var errors = Yaml.Errors(Head + "spec: " + deep + "\n");
        Assert.DoesNotContain(errors, e => e.Message.Contains("nested more than", StringComparison.Ordinal));
    }

    [Fact]
    public void An_alias_bomb_is_refused_without_expanding_it()
    {
        // Nine levels of ten aliases: a billion nodes once bound.
        var text = new StringBuilder(Head).Append("spec:\n  x:\n    a0: &a0 [lol]\n");
        for (var i = 1; i <= 9; i++)
            text.Append($"    a{i}: &a{i} [").AppendJoin(", ", Enumerable.Repeat($"*a{i - 1}", 10)).Append("]\n");
        var e = Yaml.Error(text.ToString());
        Assert.Contains($"more than {YamlLimits.MaxNodes} nodes", e.Message);
        Assert.Contains("alias", e.Message);
        Assert.StartsWith("spec.x.a", e.Path);
        Assert.InRange(e.Line, 6, 13);
    }

    [Fact]
    public void An_alias_inside_its_own_anchor_is_an_error_not_a_cycle()
    {
        // Hashing the cyclic node as a mapping key once recursed until the stack overflowed.
        var e = Yaml.Error(Head + "spec:\n  x: &a [ *a ]\n  y: { ? *a : 1 }\n");
        Assert.Contains("cannot contain itself", e.Message);
        Assert.Equal((5, "spec.x[0]"), (e.Line, e.Path));
    }

    [Fact]
    public void Many_documents_that_each_stand_for_many_nodes_are_refused_for_the_whole_read()
    {
        // Each document stays under the per-document bound (about 12 000 nodes through its aliases);
        // a hundred of them are more than one read may stand for.
        var document = new StringBuilder("---\napiVersion: weft.dev/v1\nkind: Service\nmetadata: { name: web }\nspec:\n  a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for (var i = 1; i <= 3; i++)
            document.Append($"  a{i}: &a{i} [").AppendJoin(", ", Enumerable.Repeat($"*a{i - 1}", 10)).Append("]\n");
        var text = string.Concat(Enumerable.Repeat(document.ToString(), 100));
        var errors = ResourceParser.Parse(text, "many.yaml").Errors;
        Assert.Contains(errors, e => e.Message.Contains($"more than {YamlLimits.MaxNodesPerRead} nodes in all", StringComparison.Ordinal));
        Assert.DoesNotContain(errors, e => e.Message.Contains($"document holds more than", StringComparison.Ordinal));
    }

    [Fact]
    public void Past_the_error_limit_one_error_says_how_many_more_there_were()
    {
        var text = string.Concat(Enumerable.Range(0, 1100).Select(i =>
            $"---\napiVersion: weft.dev/v1\nkind: Service\nmetadata: {{ name: s{i} }}\nspec: {{ ports: [{{ port: 0 }}] }}\n"));
        var errors = ResourceParser.Parse(text, "errors.yaml").Errors;
        Assert.Equal(YamlLimits.MaxErrors + 1, errors.Count);
        Assert.Equal("100 more errors not shown (at most 1000 are kept)", errors[^1].Message);
    }

    [Fact]
    public void Documents_joined_by_lone_carriage_returns_count_against_the_document_limit()
    {
        var text = string.Concat(Enumerable.Repeat("---\ra: 1\r", YamlLimits.MaxDocuments + 1));
        Assert.Contains(ResourceParser.Parse(text, "cr.yaml").Errors, e => e.Message.Contains("documents in one input", StringComparison.Ordinal));
    }

    [Fact]
    public void Aliases_that_expand_to_little_are_read()
    {
        var service = Yaml.Single<Weft.Model.Resources.ServiceResource>(
            "apiVersion: weft.dev/v1\nkind: Service\nmetadata: { name: web, labels: &l { app: web } }\nspec: { selector: *l, ports: [{ port: 80 }] }\n");
        Assert.Equal("web", service.Spec.Selector["app"]);
    }

    [Fact]
    public void A_megabyte_of_document_markers_is_read_as_nothing_at_once()
    {
        var text = string.Concat(Enumerable.Repeat("---\n", 256 * 1024));
        var result = ResourceParser.Parse(text, "markers.yaml");
        Assert.Empty(result.Resources);
        Assert.Empty(result.Errors);
    }

    [Fact]
    public void A_megabyte_of_one_line_documents_is_refused_at_the_document_limit()
    {
        // 174 762 documents: each once parsed after as many newlines as lines before it, minutes in all.
        var text = string.Concat(Enumerable.Repeat("--- x\n", 1024 * 1024 / 6));
        var e = Assert.Single(ResourceParser.Parse(text, "markers.yaml").Errors, e => e.Message.Contains("documents in one input", StringComparison.Ordinal));
        Assert.Equal(YamlLimits.MaxDocuments + 1, e.Line);
    }

    [Fact]
    public void Errors_in_a_late_document_of_many_carry_the_line_in_the_whole_file()
    {
        var text = new StringBuilder();
        for (var i = 0; i < 5000; i++)
            text.Append($"---\napiVersion: weft.dev/v1\nkind: Service\nmetadata: {{ name: s{i} }}\nspec: {{ ports: [{{ port: 80 }}] }}\n");
        text.Append("---\napiVersion: weft.dev/v1\nkind: Service\nmetadata: { name: last }\nspec: { ports: [{ port: 0 }] }\n");
        var result = ResourceParser.Parse(text.ToString(), "many.yaml");
        var e = Assert.Single(result.Errors);
        Assert.Equal((5000, 5000 * 5 + 5, "spec.ports[0].port"), (e.Document, e.Line, e.Path));
        Assert.Equal(5000, result.Resources.Count);
    }

    [Fact]
    public void More_documents_than_the_limit_are_an_error_at_the_first_past_it()
    {
        var text = string.Concat(Enumerable.Repeat("---\na: 1\n", YamlLimits.MaxDocuments + 1));
        var errors = ResourceParser.Parse(text, "docs.yaml").Errors;
        var e = errors.Single(e => e.Message.Contains("documents in one input", StringComparison.Ordinal));
        Assert.Equal(2 * YamlLimits.MaxDocuments + 1, e.Line);
    }

    [Fact]
    public void An_input_past_the_size_limit_is_an_error_before_any_parsing()
    {
        var text = Head + "spec: {}\n#" + new string('x', YamlLimits.MaxChars);
        var e = Yaml.Error(text);
        Assert.Contains("characters, more than the 8 Mi allowed", e.Message);
        Assert.Equal(1, e.Line);
    }
}
