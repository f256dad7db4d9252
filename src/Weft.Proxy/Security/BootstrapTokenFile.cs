namespace Weft.Proxy.Security;

/// <summary>
/// The file holding this workload's bootstrap token (weft proxy --bootstrap-token-file). Read at every
/// use, never kept: `weft up` may replace the file with a new token while the proxy runs.
/// </summary>
public sealed class BootstrapTokenFile(string path)
{
    public string Path { get; } = path;

    /// <summary>The request metadata that proves the service account: `authorization: Bearer TOKEN`.</summary>
    public Dictionary<string, string> Headers() => new(StringComparer.Ordinal) { ["authorization"] = "Bearer " + File.ReadAllText(Path).Trim() };
}
