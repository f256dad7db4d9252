using Weft.Model.Parsing;
using Weft.Model.Resources;

namespace Weft.Model.Topology;

/// <summary>
/// Binds and validates a topology document. Pure: whether a file or folder exists is asked through <c>pathExists</c>
/// (only to resolve and check relative paths), so tests need no disk.
/// </summary>
internal static partial class TopologyBinder
{
    private const int MaxReplicas = 64;

    private static readonly string[] WorkloadFields =
        ["name", "service", "version", "namespace", "labels", "replicas", "protocol", "port", "command", "env", "upstreams"];

    public static (Topology? Topology, IReadOnlyList<ValidationError> Errors) Bind(string text, string file, string folder, Func<string, bool> pathExists)
    {
        var sink = new ErrorSink(file);
        var docs = YamlDocuments.Load(text, sink);
        if (docs.Count == 0 && sink.Count == 0) sink.Add(1, 1, "", "the topology file is empty");
        foreach (var extra in docs.Skip(1))
        {
            sink.Document = extra.Index;
            sink.LineOffset = extra.LineOffset;
            sink.Add(extra.Root.Start, "", "a topology file holds one document");
        }
        if (docs.Count == 0) return (null, sink.Report());

        sink.Document = docs[0].Index;
        sink.LineOffset = docs[0].LineOffset;
        var topology = BindDocument(new NodeReader(docs[0].Root, "", sink), folder, pathExists);
        return sink.Count == 0 ? (topology, []) : (null, sink.Report());
    }

    private static Topology? BindDocument(NodeReader root, string folder, Func<string, bool> pathExists)
    {
        var doc = root.AsObject("apiVersion", "kind", "metadata", "spec");
        if (doc is null) return null;
        var apiVersion = doc.RequiredString("apiVersion");
        if (apiVersion.Length > 0 && apiVersion != ApiVersions.Weft) doc.Error("apiVersion", $"a topology has apiVersion {ApiVersions.Weft}, not {apiVersion}");
        var kind = doc.RequiredString("kind");
        if (kind.Length > 0 && kind != "Topology") doc.Error("kind", $"expected kind Topology, not {kind}");

        var name = doc.Object("metadata", ["name"], m =>
        {
            var n = m.RequiredString("name");
            if (n.Length > 0 && KubernetesNames.Dns1123Label(n) is { } e) m.Error("name", $"invalid name \"{n}\": {e}");
            return n;
        });
        if (!doc.Has("metadata")) doc.Error("metadata", "required field is missing");

        var spec = doc.Field("spec")?.AsObject("config", "workloads", "ingress");
        if (spec is null)
        {
            if (!doc.Has("spec")) doc.Error("spec", "required field is missing");
            return null;
        }

        var config = spec.List("config", item =>
        {
            var entry = item.AsString();
            if (entry is null) return null;
            var full = Path.GetFullPath(Path.Combine(folder, entry));
            if (!pathExists(full)) item.Error($"config file not found: {full}");
            return full;
        });

        var names = new UniqueKeys("workload name");
        var at = new List<(Workload Workload, NodeReader Node)>();
        var workloads = spec.List("workloads", item => Workload(item, names, folder, pathExists) is { } w ? Remember(at, w, item) : null);
        if (!spec.Has("workloads")) spec.Error("workloads", "required field is missing");
        CheckServicesAgree(at);

        var ingress = spec.Object("ingress", ["service", "port"], i =>
        {
            var service = ServiceName(i, "service");
            return new IngressSpec(service, i.Int("port", 1, 65535, 8080));
        });

        return new Topology(name ?? "", folder, config, workloads, ingress);
    }

    private static Workload? Workload(NodeReader item, UniqueKeys names, string folder, Func<string, bool> pathExists)
    {
        var o = item.AsObject(WorkloadFields);
        if (o is null) return null;
        var name = o.RequiredString("name");
        if (name.Length > 0)
        {
            if (KubernetesNames.Dns1123Label(name) is { } e) o.Error("name", $"invalid workload name \"{name}\": {e}");
            names.Check(o.Field("name")!, name);
        }
        var service = ServiceName(o, "service");
        var version = o.String("version") ?? "v1";
        if (version.Length == 0 || KubernetesNames.LabelValue(version) is not null)
            o.Error("version", $"invalid version \"{version}\": must be a valid label value (letters, digits, '-', '_', '.')");
        var ns = o.String("namespace") ?? ObjectMeta.DefaultNamespace;
        if (KubernetesNames.Dns1123Label(ns) is { } nsError) o.Error("namespace", $"invalid namespace \"{ns}\": {nsError}");

        // app and version come from service and version; a label saying otherwise would make selectors lie.
        var own = o.Map("labels", KubernetesNames.QualifiedName, KubernetesNames.LabelValue);
        if (own.TryGetValue("app", out var app) && app != service) o.Error("labels", $"label app is always the service (\"{service}\"); remove it");
        if (own.TryGetValue("version", out var v) && v != version) o.Error("labels", $"label version is always the version (\"{version}\"); remove it");
        var labels = EquatableMap.From(own.Concat([new("app", service), new("version", version)]));

        var replicas = o.Int("replicas", 1, MaxReplicas, 1);
        var protocol = o.Enum("protocol", AppProtocol.Http);
        if (protocol == AppProtocol.Tls) o.Error("protocol", "a workload speaks http, http2, grpc or tcp (tls is for Service ports)");
        var port = o.Int("port", 1, 65535, 8080);

        var command = o.List("command", c => c.AsString(lenient: true) is { } arg ? ResolveArgument(arg, folder, pathExists) : null);
        if (!o.Has("command")) o.Error("command", "required field is missing");
        else if (command.Count == 0 && o.Field("command")!.Node is YamlDotNet.RepresentationModel.YamlSequenceNode) o.Error("command", "must not be empty");

        var env = o.Map("env", key =>
            !EnvName().IsMatch(key) ? "must be letters, digits and '_', not starting with a digit"
            : key == "PORT" || key.StartsWith("WEFT_", StringComparison.Ordinal) ? "is set by weft up" : null,
            lenientValues: true);

        var upstreamNames = new UniqueKeys("upstream");
        var upstreams = o.List("upstreams", u =>
        {
            var s = u.AsString();
            if (s is null) return null;
            // Any valid Service name: it may come from a workload here or from a Service in the config files.
            if (KubernetesNames.Dns1035Label(s) is { } e) { u.Error($"invalid service name \"{s}\": {e}"); return null; }
            upstreamNames.Check(u, s);
            return s;
        });

        return new Workload(name, service, version, ns, labels, replicas, WireEnum<AppProtocol>.Name(protocol), port, command, env, upstreams);
    }

    private static string ServiceName(ObjectReader o, string field)
    {
        var s = o.RequiredString(field);
        if (s.Length > 0 && KubernetesNames.Dns1035Label(s) is { } e) o.Error(field, $"invalid service name \"{s}\": {e}");
        return s;
    }

    /// <summary>
    /// The command rule: an element resolves against the topology folder when it starts with "./" or
    /// "../", or when it is a plain relative path (not absolute, not an option starting with '-', no
    /// "://", no "${...}" placeholder) naming a file or folder that exists in the topology folder, like
    /// "app/run.sh" or "catalog.dll". Everything else is passed as written ("dotnet", "--urls",
    /// "http://127.0.0.1:${PORT}"); "${PORT}"-style placeholders stay for the runner to expand.
    /// </summary>
    internal static string ResolveArgument(string arg, string folder, Func<string, bool> pathExists)
    {
        if (arg.StartsWith("./", StringComparison.Ordinal) || arg.StartsWith("../", StringComparison.Ordinal))
            return Path.GetFullPath(Path.Combine(folder, arg));
        if (arg.Length == 0 || Path.IsPathRooted(arg) || arg.StartsWith('-') || arg.Contains("://", StringComparison.Ordinal)
            || arg.Contains("${", StringComparison.Ordinal))
            return arg;
        var candidate = Path.GetFullPath(Path.Combine(folder, arg));
        return pathExists(candidate) ? candidate : arg;
    }

    private static Workload Remember(List<(Workload, NodeReader)> at, Workload w, NodeReader node)
    {
        at.Add((w, node));
        return w;
    }

    // Workloads of one service share its Service: they must agree on the port and protocol it gets.
    private static void CheckServicesAgree(List<(Workload Workload, NodeReader Node)> workloads)
    {
        foreach (var group in workloads.GroupBy(w => (w.Workload.Namespace, w.Workload.Service)))
        {
            var first = group.First().Workload;
            foreach (var (w, node) in group.Skip(1))
                if (w.Port != first.Port || w.Protocol != first.Protocol)
                    node.Error($"workloads {first.Name} and {w.Name} both serve {w.Service} but disagree on its port or protocol");
        }
    }

    [System.Text.RegularExpressions.GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial System.Text.RegularExpressions.Regex EnvName();
}
