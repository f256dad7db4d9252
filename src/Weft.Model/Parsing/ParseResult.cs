using Weft.Model.Resources;

namespace Weft.Model.Parsing;

/// <summary>Every resource parsed, and every error found (all of them, not the first).</summary>
public sealed record ParseResult(IReadOnlyList<Resource> Resources, IReadOnlyList<ValidationError> Errors)
{
    public bool Ok => Errors.Count == 0;
}
