using YamlDotNet.Core;

namespace Weft.Model.Parsing;

/// <summary>
/// Where every reader of one input records its problems. One sink per input, so errors from all
/// documents land in one list and nothing stops at the first.
/// </summary>
internal sealed class ErrorSink(string file)
{
    private readonly List<ValidationError> _errors = [];

    public string File => file;

    /// <summary>0-based index of the document being read; readers stamp it on every error.</summary>
    public int Document { get; set; }

    /// <summary>Lines of the input before the current document's text: YAML marks count from its start.</summary>
    public int LineOffset { get; set; }

    public IReadOnlyList<ValidationError> Errors => _errors;
    public int Count => _errors.Count;

    public void Add(Mark at, string path, string message) => Add((int)at.Line + LineOffset, (int)at.Column, path, message);

    /// <summary>A node's line in the whole input.</summary>
    public int LineOf(Mark at) => (int)at.Line + LineOffset;

    /// <summary>Errors past <see cref="YamlLimits.MaxErrors"/>: counted, not kept (aliases can make one node's error thousands).</summary>
    public int Dropped { get; private set; }

    public void Add(int line, int column, string path, string message)
    {
        if (_errors.Count >= YamlLimits.MaxErrors)
        {
            Dropped++;
            return;
        }
        _errors.Add(new ValidationError(file, Document, line, column, path, message));
    }

    /// <summary>The error that says how many were dropped; null when none were.</summary>
    public ValidationError? DroppedNotice => Dropped == 0 ? null
        : new ValidationError(file, Document, 0, 0, "", $"{Dropped} more errors not shown (at most {YamlLimits.MaxErrors} are kept)");

    /// <summary>The errors kept, then the notice of those dropped.</summary>
    public ValidationError[] Report() => DroppedNotice is { } notice ? [.. _errors, notice] : [.. _errors];
}
