using System.Globalization;
using System.Text;

namespace Weft.Cli.Up.Isolation;

/// <summary>
/// The iptables rules of one workload's namespace, as an init container would write them, in
/// iptables-restore form (applied in one transaction, inside the namespace, so deleting the namespace
/// deletes them). Pure.
/// </summary>
/// <remarks>
/// Outbound (nat OUTPUT): the sidecar's own connections (its uid) and loopback traffic return
/// untouched, so nothing loops and the app still talks to itself; every other TCP connection is
/// redirected to the capture port. Inbound (nat PREROUTING, only what arrives on the namespace's
/// interface): the admin port returns untouched, every other TCP connection goes to the inbound port.
/// The sidecar runs as a dedicated uid (not root) because everything here runs as root, and an owner
/// match is the one exclusion that needs no co-operation from the proxy's sockets (a mark would need
/// SO_MARK on every upstream socket the HTTP client opens).
/// </remarks>
internal static class InterceptionRules
{
    public const int ProxyUid = 1337;
    public const int AdminPort = 15000;
    public const int OutboundPort = 15001;
    public const int InboundPort = 15006;
    public const string OutputChain = "WEFT_OUTPUT";
    public const string InboundChain = "WEFT_INBOUND";

    public static string Restore(string @interface = ReplicaNetwork.Interface, int proxyUid = ProxyUid,
        int adminPort = AdminPort, int outboundPort = OutboundPort, int inboundPort = InboundPort)
    {
        var s = new StringBuilder();
        s.Append("*nat\n");
        s.Append(":").Append(OutputChain).Append(" - [0:0]\n");
        s.Append(":").Append(InboundChain).Append(" - [0:0]\n");
        s.Append("-A OUTPUT -p tcp -j ").Append(OutputChain).Append('\n');
        s.Append("-A ").Append(OutputChain).Append(" -m owner --uid-owner ").Append(Text(proxyUid)).Append(" -j RETURN\n");
        s.Append("-A ").Append(OutputChain).Append(" -o lo -j RETURN\n");
        s.Append("-A ").Append(OutputChain).Append(" -d 127.0.0.0/8 -j RETURN\n");
        s.Append("-A ").Append(OutputChain).Append(" -p tcp -j REDIRECT --to-ports ").Append(Text(outboundPort)).Append('\n');
        s.Append("-A PREROUTING -i ").Append(@interface).Append(" -p tcp -j ").Append(InboundChain).Append('\n');
        s.Append("-A ").Append(InboundChain).Append(" -p tcp --dport ").Append(Text(adminPort)).Append(" -j RETURN\n");
        s.Append("-A ").Append(InboundChain).Append(" -p tcp -j REDIRECT --to-ports ").Append(Text(inboundPort)).Append('\n');
        s.Append("COMMIT\n");
        return s.ToString();
    }

    private static string Text(int n) => n.ToString(CultureInfo.InvariantCulture);
}
