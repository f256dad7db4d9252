using Weft.Model.Resources;

namespace Weft.Model.Parsing;

/// <summary>
/// The fields of one YAML object, read by name. Each typed getter handles absence, type and range
/// and reports at the field's own line, so a binder is one line per field.
/// </summary>
internal sealed class ObjectReader(NodeReader self, Dictionary<string, NodeReader> fields)
{
    public bool Has(string name) => Field(name) is not null;

    /// <summary>The field's reader, or null when absent or explicitly null.</summary>
    public NodeReader? Field(string name) =>
        fields.TryGetValue(name, out var r) && !r.IsNull ? r : null;

    /// <summary>Reports at the field when present, else at the object (for a missing field).</summary>
    public void Error(string name, string message)
    {
        if (fields.TryGetValue(name, out var r)) r.Error(message);
        else self.Sink.Add(self.Node.Start, NodeReader.Join(self.Path, name), message);
    }

    public void Error(string message) => self.Error(message);

    private T? Required<T>(string name, Func<NodeReader, T?> read)
    {
        var f = Field(name);
        if (f is null) { Error(name, "required field is missing"); return default; }
        return read(f);
    }

    public string? String(string name) => Field(name)?.AsString();
    public string RequiredString(string name)
    {
        var s = Required(name, f => f.AsString());
        if (s is { Length: 0 }) Error(name, "must not be empty");
        return s ?? "";
    }

    public int? Int(string name, int min, int max) => Field(name)?.AsInt(min, max);
    public int Int(string name, int min, int max, int defaultValue) => Field(name) is { } f ? f.AsInt(min, max) ?? defaultValue : defaultValue;
    /// <summary>Null when missing or invalid (the error is recorded).</summary>
    public int? RequiredInt(string name, int min, int max) => Required(name, f => f.AsInt(min, max));

    public double Number(string name, double min, double max, double defaultValue)
    {
        var f = Field(name);
        if (f is null) return defaultValue;
        var d = f.AsNumber();
        if (d is null) return defaultValue;
        if (d < min || d > max) { f.Error($"must be between {min} and {max}, got {d}"); return defaultValue; }
        return d.Value;
    }

    public TEnum Enum<TEnum>(string name, TEnum defaultValue) where TEnum : struct, Enum =>
        Field(name)?.AsEnum<TEnum>() ?? defaultValue;
    public TEnum? OptionalEnum<TEnum>(string name) where TEnum : struct, Enum => Field(name)?.AsEnum<TEnum>();
    public TEnum RequiredEnum<TEnum>(string name) where TEnum : struct, Enum => Required(name, f => f.AsEnum<TEnum>()) ?? default;

    public TimeSpan? Duration(string name) => Field(name)?.AsDuration();

    public EquatableMap Map(string name, Func<string, string?>? keyRule = null, Func<string, string?>? valueRule = null, bool lenientValues = false) =>
        Field(name)?.AsStringMap(keyRule, valueRule, lenientValues) ?? EquatableMap.Empty;

    /// <summary>A list whose items are bound by <paramref name="bind"/>; items that fail are left out (their errors are recorded).</summary>
    /// <param name="maxItems">The Gateway API's maxItems for the list, when it has one.</param>
    public EquatableList<T> List<T>(string name, Func<NodeReader, T?> bind, int maxItems = int.MaxValue) where T : class
    {
        var items = Field(name)?.AsList();
        if (items is null) return EquatableList<T>.Empty;
        if (items.Count > maxItems) Error(name, $"at most {maxItems} items are allowed, got {items.Count}");
        var result = new List<T>(items.Count);
        foreach (var item in items)
            if (bind(item) is { } value) result.Add(value);
        return result.Count == 0 ? EquatableList<T>.Empty : new EquatableList<T>(result);
    }

    public EquatableList<int> IntList(string name, int min, int max)
    {
        var items = Field(name)?.AsList();
        if (items is null) return EquatableList<int>.Empty;
        var result = new List<int>(items.Count);
        foreach (var item in items)
            if (item.AsInt(min, max) is { } n) result.Add(n);
        return new EquatableList<int>(result);
    }

    public EquatableList<string> StringList(string name, bool lenient = false) =>
        List(name, item => item.AsString(lenient));

    /// <summary>A nested object with its own allowed fields, or null when absent.</summary>
    public T? Object<T>(string name, string[] allowed, Func<ObjectReader, T?> bind) where T : class =>
        Field(name)?.AsObject(allowed) is { } o ? bind(o) : null;
}

/// <summary>Reports a repeated key in a list that must be unique by it (Gateway API listMapKey lists, names).</summary>
internal sealed class UniqueKeys(string what, StringComparer? comparer = null)
{
    private readonly HashSet<string> _seen = new(comparer ?? StringComparer.Ordinal);

    public void Check(NodeReader at, string key)
    {
        if (!_seen.Add(key)) at.Error($"duplicate {what} \"{key}\"");
    }
}
