using Weft.Protocol.Discovery;
using Weft.Proxy.Pipeline;

namespace Weft.Proxy.Routing;

/// <summary>A RequestHeaderModifier / ResponseHeaderModifier step, applied in config order.</summary>
internal sealed class HeaderModifierRuntime(HeaderModifier.Types.Op op, string name, string value)
{
    public HeaderModifier.Types.Op Op { get; } = op;
    public string Name { get; } = name;
    public string Value { get; } = value;

    public static void Apply(HeaderModifierRuntime[] modifiers, HeaderView headers)
    {
        for (var i = 0; i < modifiers.Length; i++)
        {
            var m = modifiers[i];
            switch (m.Op)
            {
                case HeaderModifier.Types.Op.Set:
                    headers.Set(m.Name, m.Value);
                    break;
                case HeaderModifier.Types.Op.Add:
                    headers.Append(m.Name, m.Value);
                    break;
                case HeaderModifier.Types.Op.Remove:
                    headers.Remove(m.Name);
                    break;
            }
        }
    }
}
