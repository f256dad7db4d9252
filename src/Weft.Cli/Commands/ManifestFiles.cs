using Weft.Control.Api;

namespace Weft.Cli.Commands;

/// <summary>
/// Reads the -f inputs of apply and delete: a file, a directory (its *.yaml and *.yml, sorted, not
/// recursive, like kubectl), or "-" for stdin. Files are sent as written so the server's errors name
/// them as the user typed them.
/// </summary>
internal static class ManifestFiles
{
    public const string StdinName = "<stdin>";

    /// <summary>The files, or the reason they cannot be read.</summary>
    public static async Task<(List<ApiFile>? Files, string? Error)> ReadAsync(IReadOnlyList<string> inputs, TextReader stdin, CancellationToken ct)
    {
        var files = new List<ApiFile>();
        foreach (var input in inputs)
        {
            if (input == "-")
            {
                files.Add(new ApiFile(StdinName, await stdin.ReadToEndAsync(ct).ConfigureAwait(false)));
                continue;
            }
            try
            {
                if (Directory.Exists(input))
                {
                    var inDir = Directory.EnumerateFiles(input)
                        .Where(f => f.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".yml", StringComparison.OrdinalIgnoreCase))
                        .Order(StringComparer.Ordinal).ToList();
                    if (inDir.Count == 0) return (null, $"no *.yaml or *.yml files in directory {input}");
                    foreach (var file in inDir) files.Add(new ApiFile(file, await File.ReadAllTextAsync(file, ct).ConfigureAwait(false)));
                }
                else
                {
                    files.Add(new ApiFile(input, await File.ReadAllTextAsync(input, ct).ConfigureAwait(false)));
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return (null, $"cannot read {input}: {e.Message}");
            }
        }
        return (files, null);
    }
}
