using System.Text;

namespace Weft.Cli.Up;

/// <summary>
/// <c>${NAME}</c> and <c>$NAME</c> in topology commands and env, as a shell would read them, so a
/// command line can say <c>--urls http://127.0.0.1:${PORT}</c>. <c>$$</c> is a literal <c>$</c>.
/// An unknown name stays as written (a shell would make it empty): a visible mistake beats a silent one.
/// </summary>
internal static class EnvExpansion
{
    public static string Expand(string text, Func<string, string?> lookup)
    {
        var dollar = text.IndexOf('$', StringComparison.Ordinal);
        if (dollar < 0) return text;
        var result = new StringBuilder(text.Length + 16).Append(text, 0, dollar);
        var i = dollar;
        while (i < text.Length)
        {
            var c = text[i];
            if (c != '$' || i + 1 == text.Length)
            {
                result.Append(c);
                i++;
                continue;
            }
            var next = text[i + 1];
            if (next == '$')
            {
                result.Append('$');
                i += 2;
            }
            else if (next == '{' && text.IndexOf('}', i + 2) is var close and > 0 && IsName(text.AsSpan(i + 2, close - i - 2)))
            {
                var name = text.Substring(i + 2, close - i - 2);
                result.Append(lookup(name) ?? text.Substring(i, close - i + 1));
                i = close + 1;
            }
            else if (IsNameStart(next))
            {
                var end = i + 2;
                while (end < text.Length && IsNamePart(text[end])) end++;
                var name = text.Substring(i + 1, end - i - 1);
                result.Append(lookup(name) ?? text.Substring(i, end - i));
                i = end;
            }
            else
            {
                result.Append('$');
                i++;
            }
        }
        return result.ToString();
    }

    private static bool IsName(ReadOnlySpan<char> name)
    {
        if (name.IsEmpty || !IsNameStart(name[0])) return false;
        foreach (var c in name)
            if (!IsNamePart(c)) return false;
        return true;
    }

    private static bool IsNameStart(char c) => char.IsAsciiLetter(c) || c == '_';
    private static bool IsNamePart(char c) => char.IsAsciiLetterOrDigit(c) || c == '_';
}
