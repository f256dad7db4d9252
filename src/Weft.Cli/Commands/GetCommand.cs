using System.CommandLine;
using System.Text.Json.Nodes;
using Weft.Control.Api;
using Weft.Model.Resources;

namespace Weft.Cli.Commands;

/// <summary>`weft get KIND [NAME] [-n NS] [-o table|json|yaml]`.</summary>
internal static class GetCommand
{
    public static Command Create()
    {
        var command = new Command("get", "Show config resources and their status conditions");
        var kind = new Argument<string>("KIND") { Description = "Kind as in kubectl: case-insensitive, singular or plural (service, httproutes)" };
        var name = new Argument<string?>("NAME") { Description = "One resource by name", Arity = ArgumentArity.ZeroOrOne };
        var ns = DeleteCommand.NamespaceOption(null);
        var output = Output.CreateOption();
        var control = ConfigCommands.CreateControlOption();
        command.Arguments.Add(kind);
        command.Arguments.Add(name);
        command.Options.Add(ns);
        command.Options.Add(output);
        command.Options.Add(control);

        ConfigCommands.SetClientAction(command, control, async (parseResult, client, ct) =>
        {
            var format = parseResult.GetValue(output);
            var writer = parseResult.InvocationConfiguration.Output;
            var kindText = Uri.EscapeDataString(parseResult.GetValue(kind)!);
            List<JsonObject> items;
            if (parseResult.GetValue(name) is { } one)
            {
                var nsText = parseResult.GetValue(ns) ?? ObjectMeta.DefaultNamespace;
                var response = await client.GetAsync($"resources/{kindText}/{Uri.EscapeDataString(nsText)}/{Uri.EscapeDataString(one)}", ct).ConfigureAwait(false);
                if (!response.Ok) return ConfigCommands.Refused(parseResult, response);
                var resource = JsonNode.Parse(response.Body)!.AsObject();
                if (format != OutputFormat.Table)
                {
                    Output.WriteDocument(writer, resource, format);
                    return ConfigCommands.Ok;
                }
                items = [resource];
            }
            else
            {
                var query = $"resources?kind={kindText}" + (parseResult.GetValue(ns) is { } n ? $"&namespace={Uri.EscapeDataString(n)}" : "");
                var response = await client.GetAsync(query, ct).ConfigureAwait(false);
                if (!response.Ok) return ConfigCommands.Refused(parseResult, response);
                items = response.Read<ResourceListResponse>().Items.ToList();
                if (format != OutputFormat.Table)
                {
                    // kubectl's list shape, so `-o yaml` output can be applied back.
                    var list = new JsonObject { ["apiVersion"] = "v1", ["kind"] = "List", ["items"] = new JsonArray(items.Select(i => (JsonNode)i.DeepClone()).ToArray()) };
                    Output.WriteDocument(writer, list, format);
                    return ConfigCommands.Ok;
                }
                if (items.Count == 0)
                {
                    await writer.WriteLineAsync($"no {parseResult.GetValue(kind)} found").ConfigureAwait(false);
                    return ConfigCommands.Ok;
                }
            }
            Output.WriteTable(writer, ["NAMESPACE", "NAME", "CONDITIONS"], items.Select(Row));
            return ConfigCommands.Ok;
        });
        return command;
    }

    private static IReadOnlyList<string> Row(JsonObject resource)
    {
        var meta = resource["metadata"];
        return [(string?)meta?["namespace"] ?? ObjectMeta.DefaultNamespace, (string?)meta?["name"] ?? "", Conditions(resource)];
    }

    /// <summary>status.conditions as Type=Status pairs (Accepted=True,ResolvedRefs=False), "-" before the control plane writes any.</summary>
    private static string Conditions(JsonObject resource)
    {
        if (resource["status"]?["conditions"] is not JsonArray conditions || conditions.Count == 0) return "-";
        return string.Join(",", conditions.OfType<JsonObject>().Select(c => $"{(string?)c["type"]}={(string?)c["status"]}"));
    }
}
