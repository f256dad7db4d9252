using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;

namespace Weft.Cli.Up.Isolation;

/// <summary>
/// The names and addresses of one `weft up --isolation netns` run, all derived from its run prefix
/// (<c>wf</c> + 4 hex digits) so that teardown, and the clean-up of a crashed run, find everything by
/// name: namespaces <c>PREFIX-INSTANCE</c>, the bridge <c>PREFIX-br</c>, host-side veths
/// <c>PREFIX-vN</c>, hosts files under /etc/netns/PREFIX-INSTANCE/. Pure.
/// </summary>
internal sealed partial record NetnsLayout(string Prefix, int Subnet)
{
    /// <summary>Where workloads' namespaces live: 10.254.Subnet.0/24 (the bridge is .1, replicas from .2).</summary>
    public const string SubnetRange = "10.254.0.0/16";
    public const int MaxReplicas = 253;

    public static NetnsLayout Create(string prefix, int subnet)
    {
        if (!IsPrefix(prefix)) throw new ArgumentException($"not a run prefix: {prefix}", nameof(prefix));
        ArgumentOutOfRangeException.ThrowIfNegative(subnet);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(subnet, 255);
        return new NetnsLayout(prefix, subnet);
    }

    public static string NewPrefix(Random random) => "wf" + random.Next(0x10000).ToString("x4", CultureInfo.InvariantCulture);

    /// <summary>Whether a name (namespace, link, hosts folder, state file) belongs to some run, and which.</summary>
    public static string? PrefixOf(string name) => PrefixPattern().Match(name) is { Success: true } m ? m.Groups[1].Value : null;

    public static bool IsPrefix(string text) => PrefixOf(text + "-") == text;

    [GeneratedRegex("^(wf[0-9a-f]{4})-")]
    private static partial Regex PrefixPattern();

    public string Bridge => BridgeOf(Prefix);

    public static string BridgeOf(string prefix) => prefix + "-br";
    public string BridgeAddress => Address(1);
    public string Cidr => $"10.254.{Text(Subnet)}.0/24";

    public ReplicaNetwork Replica(string instance, int index)
    {
        if (index < 0 || index >= MaxReplicas) throw new ArgumentOutOfRangeException(nameof(index), $"at most {MaxReplicas} replicas with --isolation netns");
        return new ReplicaNetwork(
            Namespace: Prefix + "-" + instance,
            HostVeth: Prefix + "-v" + Text(index),
            PeerVeth: Prefix + "-p" + Text(index),
            Address: Address(index + 2));
    }

    /// <summary>
    /// The first /24 of 10.254.0.0/16, from <paramref name="start"/> on, that overlaps none of the
    /// machine's routes (so a namespace address never shadows a real network); null when all do.
    /// </summary>
    public static int? ChooseSubnet(IEnumerable<string> routeDestinations, int start)
    {
        var taken = routeDestinations.Select(ParseCidr).Where(c => c is not null).Select(c => c!.Value).ToList();
        for (var i = 0; i < 256; i++)
        {
            var candidate = (start + i) & 0xff;
            var network = (10u << 24) | (254u << 16) | ((uint)candidate << 8);
            if (!taken.Any(t => Overlaps(t.Network, t.Length, network, 24))) return candidate;
        }
        return null;
    }

    private static bool Overlaps(uint a, int aLength, uint b, int bLength)
    {
        var length = Math.Min(aLength, bLength);
        var mask = length == 0 ? 0u : uint.MaxValue << (32 - length);
        return (a & mask) == (b & mask);
    }

    private static (uint Network, int Length)? ParseCidr(string text)
    {
        // The default route is where everything else goes, not a network in use.
        if (text == "default") return null;
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        var address = slash < 0 ? text : text[..slash];
        var length = 32;
        if (slash >= 0 && !int.TryParse(text[(slash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out length)) return null;
        if (!IPAddress.TryParse(address, out var ip) || ip.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork || length is < 0 or > 32) return null;
        var bytes = ip.GetAddressBytes();
        return (((uint)bytes[0] << 24) | ((uint)bytes[1] << 16) | ((uint)bytes[2] << 8) | bytes[3], length);
    }

    private string Address(int host) => $"10.254.{Text(Subnet)}.{Text(host)}";

    private static string Text(int n) => n.ToString(CultureInfo.InvariantCulture);
}

/// <summary>One replica's namespace: its name, the veth pair's ends and its address on the bridge.</summary>
internal sealed record ReplicaNetwork(string Namespace, string HostVeth, string PeerVeth, string Address)
{
    /// <summary>The veth end inside the namespace, once renamed.</summary>
    public const string Interface = "eth0";

    /// <summary>ip(8), by full path: children start through setsid, whose PATH may lack the sbin folders.</summary>
    public static readonly string IpTool = new[] { "/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip" }.FirstOrDefault(File.Exists) ?? "ip";
}
