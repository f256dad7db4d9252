namespace Weft.Model.Parsing;

/// <summary>
/// One problem in user input, located precisely: file, document index (0-based, in a multi-document
/// file), 1-based line and column, and the field path (e.g. spec.rules[0].backendRefs[1].weight).
/// </summary>
public sealed record ValidationError(string File, int Document, int Line, int Column, string Path, string Message)
{
    public override string ToString() =>
        Path.Length == 0 ? $"{File}:{Line}:{Column}: {Message}" : $"{File}:{Line}:{Column}: {Path}: {Message}";
}
