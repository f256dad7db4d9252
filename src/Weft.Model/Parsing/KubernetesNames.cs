using System.Text.RegularExpressions;

namespace Weft.Model.Parsing;

/// <summary>
/// Kubernetes' name rules (apimachinery validation), so names that work in a cluster work here and
/// the reverse. Each check returns null when valid, else the message.
/// </summary>
internal static partial class KubernetesNames
{
    /// <summary>DNS-1123 label: namespaces, and names that become DNS labels.</summary>
    public static string? Dns1123Label(string value) =>
        value.Length > 63 ? "must be no more than 63 characters"
        : Label1123().IsMatch(value) ? null
        : "must be a lowercase RFC 1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit";

    /// <summary>DNS-1035 label: what Kubernetes requires of Service names (they start with a letter).</summary>
    public static string? Dns1035Label(string value) =>
        value.Length > 63 ? "must be no more than 63 characters"
        : Label1035().IsMatch(value) ? null
        : "must be a lowercase RFC 1035 label: lowercase letters, digits and '-', starting with a letter and ending with a letter or digit";

    /// <summary>DNS-1123 subdomain: the rule for most object names, HTTPRoute and GRPCRoute included.</summary>
    public static string? Dns1123Subdomain(string value) =>
        value.Length > 253 ? "must be no more than 253 characters"
        : Subdomain1123().IsMatch(value) ? null
        : "must be a lowercase RFC 1123 subdomain: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit";

    /// <summary>A label or annotation key: optional DNS-subdomain prefix and '/', then a name of up to 63 characters.</summary>
    public static string? QualifiedName(string key)
    {
        var slash = key.IndexOf('/', StringComparison.Ordinal);
        var name = slash < 0 ? key : key[(slash + 1)..];
        if (slash >= 0)
        {
            var prefix = key[..slash];
            if (prefix.Length == 0) return "prefix part must not be empty";
            if (Dns1123Subdomain(prefix) is { } e) return "prefix part " + e;
        }
        if (name.Length == 0) return "name part must not be empty";
        if (name.Length > 63) return "name part must be no more than 63 characters";
        return QualifiedNamePart().IsMatch(name) ? null
            : "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
    }

    public static string? LabelValue(string value) =>
        value.Length == 0 ? null
        : value.Length > 63 ? "must be no more than 63 characters"
        : QualifiedNamePart().IsMatch(value) ? null
        : "must be empty or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";

    /// <summary>Gateway API Hostname: a DNS subdomain, optionally with one leading "*." wildcard label; no IPs.</summary>
    public static string? Hostname(string value) =>
        value.Length > 253 ? "must be no more than 253 characters"
        : GatewayHostname().IsMatch(value) ? null
        : "must be a lowercase DNS name, optionally prefixed with \"*.\" (IP addresses are not allowed)";

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
    private static partial Regex Label1123();

    [GeneratedRegex("^[a-z]([-a-z0-9]*[a-z0-9])?$")]
    private static partial Regex Label1035();

    [GeneratedRegex(@"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")]
    private static partial Regex Subdomain1123();

    [GeneratedRegex("^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")]
    private static partial Regex QualifiedNamePart();

    [GeneratedRegex(@"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")]
    private static partial Regex GatewayHostname();
}
