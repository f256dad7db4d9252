using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace Weft.Model.Parsing;

/// <summary>
/// The bounds every YAML input is read within, so hostile input costs an error, not the control
/// plane: YamlDotNet builds nodes recursively (100 000 levels overflow the stack and end the
/// process), aliases are references that binding walks once per use (nine levels of ten aliases
/// are a billion nodes), and every document is parsed on its own. Each bound comes back as a
/// validation error with the line and field path where it was crossed (docs/config.md, "Input limits").
/// </summary>
public static class YamlLimits
{
    /// <summary>Levels of mappings and sequences inside one another; Weft's deepest resource needs about ten.</summary>
    public const int MaxDepth = 100;

    /// <summary>Nodes in one document, each alias counted as the nodes it stands for.</summary>
    public const int MaxNodes = 100_000;

    /// <summary>
    /// Nodes in all the documents of one read (an apply's every file, a topology file), counted the
    /// same way: the per-document bound alone let ten thousand documents each stand for 100 000 nodes.
    /// </summary>
    public const int MaxNodesPerRead = 1_000_000;

    /// <summary>Errors kept for one read; past it, one error says how many more there were.</summary>
    public const int MaxErrors = 1000;

    /// <summary>Documents in one input (one file of an apply, a topology file).</summary>
    public const int MaxDocuments = 10_000;

    /// <summary>Characters in one input.</summary>
    public const int MaxChars = 8 * 1024 * 1024;
}

/// <summary>
/// What one read may still spend: nodes counted as <see cref="BoundedParser"/> counts them, shared by every
/// document and file of the read (an apply request makes one for all its files).
/// </summary>
public sealed class YamlBudget
{
    public long NodesLeft { get; internal set; } = YamlLimits.MaxNodesPerRead;
}

/// <summary>A bound of <see cref="YamlLimits"/> crossed, where and at which field path.</summary>
internal sealed class YamlLimitException(Mark start, Mark end, string path, string message) : YamlException(start, end, message)
{
    public string Path => path;
}

/// <summary>
/// Passes a parser's events through and stops at the first bound crossed, before the node builder
/// above it recurses or expands anything. Counting is by event, so an alias bomb is refused in time
/// proportional to its text, not to what it expands to.
/// </summary>
internal sealed class BoundedParser(IParser inner, YamlBudget budget) : IParser
{
    private sealed class Frame(bool mapping, AnchorName anchor, long nodesBefore)
    {
        public bool Mapping => mapping;
        public AnchorName Anchor => anchor;
        public long NodesBefore => nodesBefore;
        public bool ExpectKey = true;
        public string? Key;
        public int Index;
    }

    private readonly List<Frame> _frames = [];
    private readonly Dictionary<string, long> _anchorSizes = new(StringComparer.Ordinal);
    // Anchors whose node has started and not ended: an alias to one would make the node contain itself,
    // and YamlDotNet builds that cycle (hashing it as a mapping key then recurses until the stack overflows).
    private readonly HashSet<string> _openAnchors = new(StringComparer.Ordinal);
    private long _nodes;

    public ParsingEvent? Current => inner.Current;

    public bool MoveNext()
    {
        if (!inner.MoveNext())
            return false;
        switch (inner.Current)
        {
            case DocumentStart:
                _frames.Clear();
                _anchorSizes.Clear();
                _openAnchors.Clear();
                _nodes = 0;
                break;
            case MappingStart or SequenceStart:
                var start = (NodeEvent)inner.Current;
                Count(1, start);
                if (_frames.Count >= YamlLimits.MaxDepth)
                    throw new YamlLimitException(start.Start, start.End, Path(),
                        $"YAML nested more than {YamlLimits.MaxDepth} levels deep (mappings and lists inside one another)");
                _frames.Add(new Frame(start is MappingStart, start.Anchor, _nodes - 1));
                if (!start.Anchor.IsEmpty)
                {
                    _anchorSizes.Remove(start.Anchor.Value);    // redefined: the earlier node's size no longer applies
                    _openAnchors.Add(start.Anchor.Value);
                }
                break;
            case MappingEnd or SequenceEnd:
                if (_frames.Count == 0)
                    break;
                var frame = _frames[^1];
                _frames.RemoveAt(_frames.Count - 1);
                if (!frame.Anchor.IsEmpty)
                {
                    _anchorSizes[frame.Anchor.Value] = _nodes - frame.NodesBefore;
                    _openAnchors.Remove(frame.Anchor.Value);
                }
                AfterNode(null);
                break;
            case Scalar scalar:
                Count(1, scalar);
                if (!scalar.Anchor.IsEmpty)
                    _anchorSizes[scalar.Anchor.Value] = 1;
                AfterNode(scalar.Value);
                break;
            case AnchorAlias alias:
                if (_openAnchors.Contains(alias.Value.Value))
                    throw new YamlLimitException(alias.Start, alias.End, Path(),
                        $"alias *{alias.Value.Value} inside the node its anchor &{alias.Value.Value} names: a node cannot contain itself");
                Count(_anchorSizes.GetValueOrDefault(alias.Value.Value, 1), alias);
                AfterNode("*" + alias.Value.Value);
                break;
        }
        return true;
    }

    private void Count(long nodes, ParsingEvent at)
    {
        _nodes += nodes;
        budget.NodesLeft -= nodes;
        if (_nodes > YamlLimits.MaxNodes)
            throw new YamlLimitException(at.Start, at.End, Path(),
                $"YAML document holds more than {YamlLimits.MaxNodes} nodes, counting what each alias stands for (an alias bomb?)");
        if (budget.NodesLeft < 0)
            throw new YamlLimitException(at.Start, at.End, Path(),
                $"the input holds more than {YamlLimits.MaxNodesPerRead} nodes in all, counting what each alias stands for: apply it in parts");
    }

    /// <summary>A node ended: in a mapping it was a key or a value, in a list one more item.</summary>
    private void AfterNode(string? scalar)
    {
        if (_frames.Count == 0)
            return;
        var top = _frames[^1];
        if (!top.Mapping)
            top.Index++;
        else if (top.ExpectKey)
            (top.Key, top.ExpectKey) = (scalar ?? "?", false);
        else
            top.ExpectKey = true;
    }

    /// <summary>The field path of the node being read, as validation errors write it (spec.rules[0].matches).</summary>
    private string Path()
    {
        var path = "";
        foreach (var frame in _frames)
        {
            if (!frame.Mapping)
                path += $"[{frame.Index}]";
            else if (!frame.ExpectKey && frame.Key is { } key)
                path = NodeReader.Join(path, key);
        }
        return path;
    }
}
