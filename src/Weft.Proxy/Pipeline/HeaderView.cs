using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;

namespace Weft.Proxy.Pipeline;

/// <summary>Receives header fields as strings, one per call (a codec writing a head, a route copying one).</summary>
internal interface IHeaderSink
{
    void Add(string name, string value);
}

/// <summary>
/// The header fields of a request or response as the pipeline sees them, whatever codec parsed them:
/// route matching reads them, identity and header modifiers edit them, the upstream or downstream codec
/// writes them out. Each codec backs it with what it already has (HTTP/1.1: the raw head, Kestrel: its
/// header dictionary, HttpClient: a list), so the common request path copies no header into a string.
/// Framing fields (Content-Length, Transfer-Encoding) are not here: bodies carry their own length.
/// </summary>
internal abstract class HeaderView
{
    /// <summary>
    /// The values of <paramref name="name"/> joined with ", " (repeated fields, as Envoy matches them),
    /// or null. Sees every field as received, hop-by-hop ones included, less those the pipeline removed.
    /// </summary>
    public abstract string? Get(string name);

    /// <summary>How many fields (lines or values) named <paramref name="name"/> there are.</summary>
    public abstract int Count(string name);

    public abstract void Set(string name, string value);

    public abstract void Append(string name, string value);

    public abstract void Remove(string name);

    /// <summary>Removes every field whose name starts with <paramref name="prefix"/> (any case).</summary>
    public abstract void RemoveWithPrefix(string prefix);

    /// <summary>Every field that crosses the proxy, in order: hop-by-hop ones (and those a Connection header names) are left out.</summary>
    public abstract void CopyTo(IHeaderSink sink, bool toHttp2);
}

/// <summary>A plain list of fields: responses and trailers from HttpClient, and anything built by hand. Cold paths only.</summary>
internal sealed class HeaderList : HeaderView, IHeaderSink
{
    private readonly List<KeyValuePair<string, string>> _fields = [];

    public int Length => _fields.Count;

    public KeyValuePair<string, string> this[int index] => _fields[index];

    public void Add(string name, string value) => _fields.Add(new(name, value));

    public void Clear() => _fields.Clear();

    public override string? Get(string name)
    {
        string? joined = null;
        foreach (var (n, v) in _fields)
        {
            if (string.Equals(n, name, StringComparison.OrdinalIgnoreCase))
                joined = joined is null ? v : joined + ", " + v;
        }
        return joined;
    }

    public override int Count(string name)
    {
        var count = 0;
        foreach (var (n, _) in _fields)
        {
            if (string.Equals(n, name, StringComparison.OrdinalIgnoreCase))
                count++;
        }
        return count;
    }

    public override void Set(string name, string value)
    {
        Remove(name);
        _fields.Add(new(name, value));
    }

    public override void Append(string name, string value) => _fields.Add(new(name, value));

    public override void Remove(string name) => _fields.RemoveAll(f => string.Equals(f.Key, name, StringComparison.OrdinalIgnoreCase));

    public override void RemoveWithPrefix(string prefix) =>
        _fields.RemoveAll(f => f.Key.StartsWith(prefix, StringComparison.OrdinalIgnoreCase));

    public override void CopyTo(IHeaderSink sink, bool toHttp2)
    {
        HashSet<string>? listed = null;
        foreach (var (n, v) in _fields)
        {
            if (string.Equals(n, "Connection", StringComparison.OrdinalIgnoreCase))
                (listed ??= new(StringComparer.OrdinalIgnoreCase)).UnionWith(HopByHop.ConnectionTokens(v) ?? []);
        }
        foreach (var (n, v) in _fields)
        {
            if (HopByHop.DropFromRequest(n, v, toHttp2) || IsFraming(n) || (listed is not null && listed.Contains(n)))
                continue;
            sink.Add(n, v);
        }
    }

    internal static bool IsFraming(string name) =>
        string.Equals(name, "Content-Length", StringComparison.OrdinalIgnoreCase)
        || string.Equals(name, "Transfer-Encoding", StringComparison.OrdinalIgnoreCase);
}

/// <summary>Kestrel's header dictionary (its HTTP/2 and HTTP/1.1 requests, and the responses written to them).</summary>
internal sealed class DictionaryHeaderView(IHeaderDictionary headers) : HeaderView
{
    public IHeaderDictionary Headers { get; } = headers;

    public override string? Get(string name) => Headers.TryGetValue(name, out var values) && values.Count != 0
        ? values.Count == 1 ? values[0] : string.Join(", ", values.ToArray())
        : null;

    public override int Count(string name) => Headers.TryGetValue(name, out var values) ? values.Count : 0;

    public override void Set(string name, string value) => Headers[name] = value;

    public override void Append(string name, string value) => Headers[name] = StringValues.Concat(Headers[name], value);

    public override void Remove(string name) => Headers.Remove(name);

    public override void RemoveWithPrefix(string prefix)
    {
        List<string>? names = null;
        foreach (var header in Headers)
        {
            if (header.Key.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
                (names ??= []).Add(header.Key);
        }
        foreach (var name in names ?? [])
            Headers.Remove(name);
    }

    public override void CopyTo(IHeaderSink sink, bool toHttp2)
    {
        var connection = Headers.Connection;
        var listed = connection.Count == 0 ? null : HopByHop.ConnectionTokens(connection);
        foreach (var (name, values) in Headers)
        {
            if (name.Length == 0 || name[0] == ':' || HopByHop.DropFromRequest(name, values, toHttp2) || HeaderList.IsFraming(name)
                || (listed is not null && listed.Contains(name)))
                continue;
            foreach (var value in values)
                sink.Add(name, value ?? "");
        }
    }
}
