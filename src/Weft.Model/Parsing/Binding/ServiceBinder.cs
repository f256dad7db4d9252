using Weft.Model.Resources;

namespace Weft.Model.Parsing.Binding;

/// <summary>Binds and validates a Service spec.</summary>
internal static class ServiceBinder
{
    public static ServiceSpec Bind(ObjectReader spec, ObjectMeta meta)
    {
        var ports = new UniqueKeys("port");
        var portNames = new UniqueKeys("port name");
        var list = spec.List("ports", item =>
        {
            var o = item.AsObject("name", "port", "protocol", "targetPort", "appProtocol");
            if (o is null) return null;
            if (o.Has("appProtocol")) o.Error("appProtocol", "use protocol (http, http2, grpc, tcp, tls)");
            var name = o.String("name");
            if (name is not null)
            {
                if (KubernetesNames.Dns1123Label(name) is { } e) o.Error("name", $"invalid port name \"{name}\": {e}");
                portNames.Check(o.Field("name")!, name);
            }
            var port = o.RequiredInt("port", 1, 65535);
            if (port is not null) ports.Check(o.Field("port")!, port.Value.ToString(System.Globalization.CultureInfo.InvariantCulture));
            // Omitted = not declared (null): proxies detect the protocol per connection.
            AppProtocol? protocol = o.Has("protocol") ? o.Enum("protocol", AppProtocol.Http) : null;
            var targetPort = o.Int("targetPort", 1, 65535);
            return port is null ? null : new ServicePort(name, port.Value, protocol, targetPort);
        });
        if (!spec.Has("ports")) spec.Error("ports", "required field is missing");
        else if (spec.Field("ports")!.Node is YamlDotNet.RepresentationModel.YamlSequenceNode { Children.Count: 0 }) spec.Error("ports", "must have at least one port");
        if (list.Count > 1 && list.Any(p => p.Name is null))
            spec.Error("ports", "every port needs a name when there is more than one");

        // Default selector {app: <name>}: the topology gives every workload app=<service>, so a
        // Service named like the workloads' service needs no selector.
        var selector = spec.Has("selector")
            ? spec.Map("selector", KubernetesNames.QualifiedName, KubernetesNames.LabelValue)
            : EquatableMap.From([new("app", meta.Name)]);
        return new ServiceSpec(list, selector);
    }
}
