namespace Weft.Model.Parsing;

/// <summary>"did you mean" for misspelt field and kind names: the closest known name within a small edit distance.</summary>
internal static class FieldSuggestion
{
    public static string? Closest(string typed, IEnumerable<string> known)
    {
        string? best = null;
        // Allow about one typo per four characters, at least one, so "matchez" finds "matches" but "foo" finds nothing.
        var bestDistance = Math.Max(1, typed.Length / 4) + 1;
        foreach (var candidate in known)
        {
            // A fragment of a longer name ("Prefix" for "PathPrefix") is a likely intent too.
            if (typed.Length >= 3 && candidate.Contains(typed, StringComparison.OrdinalIgnoreCase) && best is null) best = candidate;
            var d = Distance(typed.ToLowerInvariant(), candidate.ToLowerInvariant());
            if (d < bestDistance) { bestDistance = d; best = candidate; }
        }
        return best;
    }

    /// <summary>Appends `; did you mean "x"?` when there is a close match.</summary>
    public static string Hint(string typed, IEnumerable<string> known) =>
        Closest(typed, known) is { } s ? $"; did you mean \"{s}\"?" : "";

    // Levenshtein distance with two rows; names are short.
    private static int Distance(string a, string b)
    {
        var prev = new int[b.Length + 1];
        var cur = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++) prev[j] = j;
        for (var i = 1; i <= a.Length; i++)
        {
            cur[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                cur[j] = Math.Min(Math.Min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + cost);
            }
            (prev, cur) = (cur, prev);
        }
        return prev[b.Length];
    }
}
