namespace Shop;

/// <summary>
/// The one thing a meshed app must do for traces: copy the trace context of the request it serves
/// onto the calls it makes. The sidecars make the spans; only the app knows which inbound request
/// caused which outbound call, so without this each hop would start a new trace.
/// </summary>
internal static class TraceHeaders
{
    private static readonly string[] Names =
    [
        "traceparent", "tracestate",                                          // W3C
        "b3", "x-b3-traceid", "x-b3-spanid", "x-b3-parentspanid", "x-b3-sampled", "x-b3-flags", // B3
        "x-request-id",
    ];

    public static IReadOnlyDictionary<string, string> From(IHeaderDictionary headers)
    {
        Dictionary<string, string>? found = null;
        foreach (var name in Names)
            if (headers.TryGetValue(name, out var value) && value.ToString() is { Length: > 0 } text)
                (found ??= new(StringComparer.Ordinal))[name] = text;
        return found ?? (IReadOnlyDictionary<string, string>)new Dictionary<string, string>();
    }
}
