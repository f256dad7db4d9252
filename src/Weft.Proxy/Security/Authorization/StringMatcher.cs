using Weft.Protocol.Discovery;

namespace Weft.Proxy.Security.Authorization;

/// <summary>One value of a rule: exact, prefix, suffix, or any non-empty value. Case-sensitive.</summary>
internal readonly struct StringMatcher(StringMatch.Types.Kind kind, string value)
{
    /// <summary>"*": any non-empty value (for a header: its presence, the empty value included).</summary>
    public bool IsPresence => kind == StringMatch.Types.Kind.Present;

    public bool Matches(string? candidate) => candidate is { Length: > 0 } && kind switch
    {
        StringMatch.Types.Kind.Exact => candidate == value,
        StringMatch.Types.Kind.Prefix => candidate.StartsWith(value, StringComparison.Ordinal),
        StringMatch.Types.Kind.Suffix => candidate.EndsWith(value, StringComparison.Ordinal),
        _ => true,
    };

    public static bool Any(StringMatcher[] matchers, string? candidate)
    {
        foreach (var m in matchers)
        {
            if (m.Matches(candidate))
                return true;
        }
        return false;
    }

    /// <summary>Null with the reason when the wire's match is not one this proxy knows.</summary>
    public static StringMatcher[]? Build(IReadOnlyList<StringMatch> specs, string path, List<string> errors)
    {
        var result = new StringMatcher[specs.Count];
        for (var i = 0; i < specs.Count; i++)
        {
            var spec = specs[i];
            if (!Enum.IsDefined(spec.Kind))
            {
                errors.Add(path + "[" + i.ToString(System.Globalization.CultureInfo.InvariantCulture) + "]: unknown match kind " +
                    ((int)spec.Kind).ToString(System.Globalization.CultureInfo.InvariantCulture));
                return null;
            }
            if (spec.Kind != StringMatch.Types.Kind.Present && spec.Value.Length == 0)
            {
                errors.Add(path + "[" + i.ToString(System.Globalization.CultureInfo.InvariantCulture) + "]: empty value");
                return null;
            }
            result[i] = new StringMatcher(spec.Kind, spec.Value);
        }
        return result;
    }
}
