using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Weft.Model.Parsing;

/// <summary>
/// Gateway API Duration (GEP-2257): `^([0-9]{1,5}(h|m|s|ms)){1,4}$`. Parsed to TimeSpan so consumers
/// never re-parse; formatted back in canonical form (largest units first) for JSON and YAML output.
/// </summary>
internal static partial class GatewayDuration
{
    public static bool TryParse(string text, out TimeSpan value)
    {
        value = TimeSpan.Zero;
        if (!Pattern().IsMatch(text)) return false;
        foreach (Match m in Part().Matches(text))
        {
            var n = long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
            value += m.Groups[2].Value switch
            {
                "h" => TimeSpan.FromHours(n),
                "m" => TimeSpan.FromMinutes(n),
                "s" => TimeSpan.FromSeconds(n),
                _ => TimeSpan.FromMilliseconds(n),
            };
        }
        return true;
    }

    public static string Format(TimeSpan value)
    {
        if (value <= TimeSpan.Zero) return "0s";
        var sb = new StringBuilder();
        var hours = (long)value.TotalHours;
        if (hours > 0) sb.Append(CultureInfo.InvariantCulture, $"{hours}h");
        if (value.Minutes > 0) sb.Append(CultureInfo.InvariantCulture, $"{value.Minutes}m");
        if (value.Seconds > 0) sb.Append(CultureInfo.InvariantCulture, $"{value.Seconds}s");
        if (value.Milliseconds > 0) sb.Append(CultureInfo.InvariantCulture, $"{value.Milliseconds}ms");
        return sb.ToString();
    }

    [GeneratedRegex("^([0-9]{1,5}(h|m|s|ms)){1,4}$")]
    private static partial Regex Pattern();

    [GeneratedRegex("([0-9]{1,5})(h|ms|m|s)")]
    private static partial Regex Part();
}
