namespace Weft.Model.Identity;

/// <summary>
/// A workload's SPIFFE ID, `spiffe://TRUST-DOMAIN/ns/NAMESPACE/sa/SERVICE-ACCOUNT` (CONTRACT, "Identity").
/// Parsing follows the SPIFFE ID spec (lower-case trust domain of letters, digits, `.`, `-`, `_`; path
/// segments of letters, digits, `.`, `-`, `_`, none empty, `.` or `..`; no query, fragment, port or
/// user info; at most 2048 bytes), then Weft's own shape of the path.
/// </summary>
public sealed record SpiffeId(string TrustDomain, string Namespace, string ServiceAccount)
{
    public const string Scheme = "spiffe://";
    private const int MaxLength = 2048;

    public override string ToString() => $"{Scheme}{TrustDomain}/ns/{Namespace}/sa/{ServiceAccount}";

    /// <summary>The ID in <paramref name="text"/>, or null with the reason in <paramref name="error"/>.</summary>
    public static SpiffeId? Parse(string text, out string error)
    {
        error = "";
        if (text.Length > MaxLength)
            return Fail($"longer than {MaxLength} characters", out error);
        if (!text.StartsWith(Scheme, StringComparison.Ordinal))
            return Fail("does not start with spiffe://", out error);
        var rest = text.AsSpan(Scheme.Length);
        var slash = rest.IndexOf('/');
        var domain = slash < 0 ? rest : rest[..slash];
        if (domain.Length == 0)
            return Fail("has no trust domain", out error);
        foreach (var c in domain)
            if (!(c is >= 'a' and <= 'z' or >= '0' and <= '9' or '.' or '-' or '_'))
                return Fail($"trust domain \"{domain}\" holds '{c}' (lower-case letters, digits, '.', '-', '_' only)", out error);
        if (slash < 0)
            return Fail("names a trust domain, not a workload (no path)", out error);
        var segments = rest[(slash + 1)..].ToString().Split('/');
        foreach (var segment in segments)
        {
            if (segment.Length == 0)
                return Fail("has an empty path segment", out error);
            if (segment is "." or "..")
                return Fail($"has a \"{segment}\" path segment", out error);
            foreach (var c in segment)
                if (!(c is >= 'a' and <= 'z' or >= 'A' and <= 'Z' or >= '0' and <= '9' or '.' or '-' or '_'))
                    return Fail($"path segment \"{segment}\" holds '{c}' (letters, digits, '.', '-', '_' only)", out error);
        }
        if (segments is not ["ns", var ns, "sa", var sa])
            return Fail("is not of the form spiffe://TRUST-DOMAIN/ns/NAMESPACE/sa/SERVICE-ACCOUNT", out error);
        return new SpiffeId(domain.ToString(), ns, sa);
    }

    /// <summary>Whether <paramref name="trustDomain"/> is one a SPIFFE ID may name.</summary>
    public static bool IsValidTrustDomain(string trustDomain) =>
        trustDomain.Length is > 0 and <= 255 && trustDomain.All(c => c is >= 'a' and <= 'z' or >= '0' and <= '9' or '.' or '-' or '_');

    /// <summary>Why <paramref name="name"/> cannot be a namespace (a DNS-1123 label, as in Kubernetes); null when it can.</summary>
    public static string? NamespaceError(string name) => Parsing.KubernetesNames.Dns1123Label(name);

    /// <summary>Why <paramref name="name"/> cannot be a service account (a DNS-1123 subdomain, as in Kubernetes); null when it can.</summary>
    public static string? ServiceAccountError(string name) => Parsing.KubernetesNames.Dns1123Subdomain(name);

    private static SpiffeId? Fail(string reason, out string error)
    {
        error = reason;
        return null;
    }
}
