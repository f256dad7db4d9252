using System.Text;

namespace Weft.Cli.Up.Isolation;

/// <summary>
/// The /etc/hosts a workload's namespace sees (`ip netns exec` bind-mounts /etc/netns/NS/hosts over
/// it): every Service as <c>name.namespace</c>, and Services of the workload's own namespace also by
/// their bare <c>name</c>, each at its virtual IP. Pure.
/// </summary>
internal static class ServiceHosts
{
    public static string Render(string workloadNamespace, IEnumerable<KeyValuePair<(string Namespace, string Name), string>> vips)
    {
        var s = new StringBuilder();
        s.Append("# written by weft up --isolation netns: Service names at their virtual IPs\n");
        s.Append("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
        foreach (var ((ns, name), vip) in vips.OrderBy(v => v.Key.Namespace, StringComparer.Ordinal).ThenBy(v => v.Key.Name, StringComparer.Ordinal))
        {
            s.Append(vip).Append('\t');
            if (ns == workloadNamespace) s.Append(name).Append(' ');
            s.Append(name).Append('.').Append(ns).Append(' ').Append(name).Append('.').Append(ns).Append(".svc\n");
        }
        return s.ToString();
    }
}
