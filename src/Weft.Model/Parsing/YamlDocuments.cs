using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Weft.Model.Parsing;

/// <summary>
/// Splits a multi-document YAML text and loads each document on its own, so a syntax error in one
/// document is reported and the others are still read and validated.
/// </summary>
internal static partial class YamlDocuments
{
    /// <summary>
    /// The non-empty documents, each with its 0-based index in the stream and the number of lines
    /// before its text (add it to a node's line for the line in the whole input; <see cref="ErrorSink.LineOffset"/>
    /// does). Syntax errors and crossed <see cref="YamlLimits"/> go to <paramref name="sink"/>.
    /// </summary>
    public static List<YamlDocument> Load(string text, ErrorSink sink, YamlBudget? budget = null)
    {
        budget ??= new YamlBudget();
        var result = new List<YamlDocument>();
        if (text.Length > YamlLimits.MaxChars)
        {
            sink.Add(1, 1, "", $"the input holds {text.Length} characters, more than the {YamlLimits.MaxChars / (1024 * 1024)} Mi allowed: split it into several inputs");
            return result;
        }
        var index = 0;
        var chunks = 0;
        foreach (var (startLine, chunk) in Split(text))
        {
            sink.Document = index;
            sink.LineOffset = startLine;
            if (++chunks > YamlLimits.MaxDocuments)
            {
                sink.Add(startLine + 1, 1, "", $"more than {YamlLimits.MaxDocuments} documents in one input: split it into several inputs");
                break;
            }
            // Each document is parsed from its own text; the sink adds the lines before it, so errors
            // carry the whole input's line numbers (padding each document with newlines instead made a
            // file of many short documents quadratic).
            var stream = new YamlStream();
            try
            {
                if (budget.NodesLeft < 0)
                    break;      // the read's budget is spent: its error is already reported
                stream.Load(new BoundedParser(new Parser(new StringReader(chunk)), budget));
            }
            catch (YamlLimitException e)
            {
                sink.Add(e.Start, e.Path, e.Message);
                index++;
                continue;
            }
            catch (YamlException e)
            {
                sink.Add(e.Start, "", "YAML syntax error: " + Describe(e));
                index++;
                continue;
            }
            catch (Exception e) when (e is InvalidOperationException or ArgumentException or FormatException or OverflowException)
            {
                // YamlDotNet's scanner fails this way on some malformed input (an unclosed flow mapping):
                // locate it at the last token that scanned.
                sink.Add(LastGoodMark(chunk), "", "YAML syntax error: malformed input here (an unclosed '{' or '['?)");
                index++;
                continue;
            }
            foreach (var doc in stream.Documents)
            {
                if (!IsEmpty(doc.RootNode)) result.Add(new YamlDocument(index, doc.RootNode, startLine));
                index++;
            }
        }
        sink.LineOffset = 0;
        return result;
    }

    // A document starts at a line beginning with "---" (YAML forbids that marker inside any scalar
    // at column 0), so splitting on those lines is exact, not a heuristic.
    private static IEnumerable<(int StartLine, string Text)> Split(string text)
    {
        // Every YAML line break (CR LF, LF, a lone CR) splits lines, as the parser counts them: a file
        // joined by lone CRs was otherwise one chunk of any number of documents.
        var lines = text.Replace("\r\n", "\n", StringComparison.Ordinal).Replace('\r', '\n').Split('\n');
        var start = 0;
        for (var i = 1; i <= lines.Length; i++)
        {
            if (i < lines.Length && !DocumentStart().IsMatch(lines[i])) continue;
            var chunk = string.Join('\n', lines[start..i]);
            if (HasContent(chunk)) yield return (start, chunk);
            start = i;
        }
    }

    private static bool HasContent(string chunk)
    {
        foreach (var line in chunk.Split('\n'))
        {
            var t = line.Trim();
            if (t.StartsWith("---", StringComparison.Ordinal) || t.StartsWith("...", StringComparison.Ordinal)) t = t[3..].TrimStart();
            // Comments and directives (%YAML) make no document on their own.
            if (t.Length > 0 && t[0] != '#' && t[0] != '%') return true;
        }
        return false;
    }

    private static bool IsEmpty(YamlNode node) =>
        node is YamlScalarNode { Style: ScalarStyle.Plain or ScalarStyle.Any, Value: null or "" or "~" or "null" };

    // YamlDotNet puts "(Line: 3, Col: 5, Idx: 20) - (Line: ...): " before the text; the error has its own position.
    private static string Describe(YamlException e)
    {
        var message = PositionPrefix().Replace(e.Message, "");
        if (e.InnerException is { } inner) message += ": " + PositionPrefix().Replace(inner.Message, "");
        return message;
    }

    private static Mark LastGoodMark(string text)
    {
        var scanner = new Scanner(new StringReader(text));
        var last = Mark.Empty;
        try
        {
            while (scanner.MoveNext()) last = scanner.Current?.End ?? last;
        }
        catch (Exception e) when (e is YamlException or InvalidOperationException)
        {
            // expected: this is where it fails
        }
        return last;
    }

    [GeneratedRegex(@"^---(\s|$)")]
    private static partial Regex DocumentStart();

    [GeneratedRegex(@"^\(Line: \d+, Col: \d+, Idx: \d+\) - \(Line: \d+, Col: \d+, Idx: \d+\): ")]
    private static partial Regex PositionPrefix();
}

/// <summary>One document of an input: its index in the stream, its root, and the lines of the input before its text.</summary>
internal sealed record YamlDocument(int Index, YamlNode Root, int LineOffset);
