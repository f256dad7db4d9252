using System.Text.RegularExpressions;
using Weft.Proxy.Pipeline;

namespace Weft.Proxy.Routing;

internal enum PathMatchKind { Any, Prefix, Exact, Regex }

/// <summary>One RouteMatch compiled: every part must hold (path AND headers AND query AND method).</summary>
internal sealed class RouteMatcher
{
    public RouteMatcher(PathMatchKind pathKind, string pathValue, Regex? pathRegex,
        ValueMatcher[] headers, ValueMatcher[] queryParams, string? method)
    {
        PathKind = pathKind;
        PathValue = pathValue;
        PathRegex = pathRegex;
        Headers = headers;
        QueryParams = queryParams;
        Method = method;
    }

    public PathMatchKind PathKind { get; }

    /// <summary>Prefix: without trailing '/', so segment semantics are one comparison.</summary>
    public string PathValue { get; }

    public Regex? PathRegex { get; }
    public ValueMatcher[] Headers { get; }
    public ValueMatcher[] QueryParams { get; }
    public string? Method { get; }

    /// <summary>Whether the request holds every part; the path is the normalized one (RequestContext.Path).</summary>
    public bool Matches(RequestContext request)
    {
        if (Method is not null && !string.Equals(request.Method, Method, StringComparison.Ordinal))
            return false;
        if (PathKind != PathMatchKind.Any && !MatchesPath(request.Path))
            return false;
        var headers = Headers;
        for (var i = 0; i < headers.Length; i++)
        {
            var m = headers[i];
            if (request.Headers.Get(m.Name) is not { } value || !m.MatchesValue(value))
                return false;
        }
        var query = QueryParams;
        if (query.Length != 0)
            return MatchesQuery(request.Query, query);
        return true;
    }

    private bool MatchesPath(string path)
    {
        switch (PathKind)
        {
            case PathMatchKind.Exact:
                return string.Equals(path, PathValue, StringComparison.Ordinal);
            case PathMatchKind.Prefix:
                var prefix = PathValue;
                // "/foo" matches "/foo", "/foo/", "/foo/bar" but not "/foobar"; "" (from "/") matches all.
                return prefix.Length == 0
                    || (path.StartsWith(prefix, StringComparison.Ordinal)
                        && (path.Length == prefix.Length || path[prefix.Length] == '/'));
            case PathMatchKind.Regex:
                return PathRegex!.IsMatch(path);
            default:
                return true;
        }
    }

    // Query names are case-sensitive (Gateway API): the raw string is parsed. Allocates, so only routes
    // that match on query pay it.
    private static bool MatchesQuery(string queryString, ValueMatcher[] matchers)
    {
        if (string.IsNullOrEmpty(queryString))
            return false;
        for (var i = 0; i < matchers.Length; i++)
        {
            var m = matchers[i];
            var found = false;
            var query = queryString.AsSpan(queryString[0] == '?' ? 1 : 0);
            foreach (var range in query.Split('&'))
            {
                var pair = query[range];
                var eq = pair.IndexOf('=');
                var name = Unescape(eq < 0 ? pair : pair[..eq]);
                if (!string.Equals(name, m.Name, StringComparison.Ordinal))
                    continue;
                // The first occurrence of a repeated parameter decides, as in Envoy.
                found = m.MatchesValue(eq < 0 ? "" : Unescape(pair[(eq + 1)..]));
                break;
            }
            if (!found)
                return false;
        }
        return true;
    }

    private static string Unescape(ReadOnlySpan<char> value) =>
        Uri.UnescapeDataString(value.ToString().Replace('+', ' '));
}

/// <summary>A header or query-parameter match: exact (case-sensitive value) or full-match regex.</summary>
internal sealed class ValueMatcher(string name, string? exact, Regex? regex)
{
    public string Name { get; } = name;
    public string? Exact { get; } = exact;
    public Regex? Regex { get; } = regex;

    /// <summary>Repeated headers are matched as one comma-joined value, as Envoy does (HeaderView.Get joins them).</summary>
    public bool MatchesValue(string value) =>
        Regex is null ? string.Equals(value, Exact, StringComparison.Ordinal) : Regex.IsMatch(value);
}
