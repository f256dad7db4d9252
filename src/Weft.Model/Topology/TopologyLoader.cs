using Weft.Model.Parsing;

namespace Weft.Model.Topology;

/// <summary>
/// Loads the topology file of `weft up` (CONTRACT.md). The only I/O in Weft.Model lives here: reading
/// the file and asking whether referenced paths exist; everything else is the pure <see cref="TopologyBinder"/>.
/// </summary>
public static class TopologyLoader
{
    /// <summary>The topology, or null with every error (file, line, field path) when it is invalid.</summary>
    public static (Topology? Topology, IReadOnlyList<ValidationError> Errors) Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            return (null, [new ValidationError(path, 0, 0, 0, "", $"cannot read topology file: {e.Message}")]);
        }
        var folder = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!;
        return TopologyBinder.Bind(text, path, folder, p => File.Exists(p) || Directory.Exists(p));
    }
}
