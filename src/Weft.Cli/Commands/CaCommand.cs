using System.CommandLine;
using System.Globalization;
using Weft.Control.Api;

namespace Weft.Cli.Commands;

/// <summary>
/// `weft ca status`: the CA's roots and intermediate with their expiry, and where a root rotation stands.
/// `weft ca rotate [--wait]`: a new root (docs/security.md, "Root rotation"); with --wait, until the old
/// root is retired, each step printed as it comes.
/// </summary>
internal static class CaCommand
{
    public static Command Create()
    {
        var statusControl = ConfigCommands.CreateControlOption();
        var status = new Command("status", "The CA's roots, its intermediate, and a root rotation's progress") { statusControl };
        ConfigCommands.SetClientAction(status, statusControl, async (parse, client, ct) =>
        {
            var response = await client.GetAsync("ca", ct).ConfigureAwait(false);
            if (!response.Ok) return ConfigCommands.Refused(parse, response);
            Print(parse.InvocationConfiguration.Output, response.Read<CaStatusResponse>());
            return ConfigCommands.Ok;
        });

        var rotateControl = ConfigCommands.CreateControlOption();
        var wait = new Option<bool>("--wait") { Description = "Wait until the old root is retired, printing each step" };
        var timeout = new Option<TimeSpan>("--timeout")
        {
            Description = "With --wait: how long to wait (e.g. 10m, 1h)",
            DefaultValueFactory = _ => TimeSpan.FromMinutes(10),
            CustomParser = r => ApplyCommand.ParseDuration(r.Tokens[0].Value, r),
            HelpName = "DURATION",
        };
        var rotate = new Command("rotate", "Bring in a new root: added to every proxy's bundle, workloads re-issued under it, the old root retired once no live certificate chains to it")
            { rotateControl, wait, timeout };
        ConfigCommands.SetClientAction(rotate, rotateControl, async (parse, client, ct) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var response = await client.PostAsync("ca/rotate", ct).ConfigureAwait(false);
            if (!response.Ok) return ConfigCommands.Refused(parse, response);
            var state = response.Read<CaStatusResponse>();
            await output.WriteLineAsync($"weft: rotation started: new root {Output.ShortHash(state.Rotation.NewRoot)} added to the trust bundle (generation {state.BundleGeneration})").ConfigureAwait(false);
            if (!parse.GetValue(wait)) return ConfigCommands.Ok;
            return await WaitAsync(client, output, state, parse.GetValue(timeout), ct).ConfigureAwait(false);
        });

        return new Command("ca", "The mesh's certificate authority") { status, rotate };
    }

    /// <summary>Polls until the rotation's phase is none again, printing each change of phase and what it waits for.</summary>
    private static async Task<int> WaitAsync(ApiClient client, TextWriter output, CaStatusResponse state, TimeSpan timeout, CancellationToken ct)
    {
        var deadline = DateTimeOffset.UtcNow + timeout;
        var phase = state.Rotation.Phase;
        var waitingFor = "";
        while (true)
        {
            if (state.Rotation.Phase == "none")
            {
                await output.WriteLineAsync($"weft: old root {Output.ShortHash(state.Rotation.OldRoot)} retired; every certificate chains to {Output.ShortHash(state.IssuerRootSha256)}").ConfigureAwait(false);
                return ConfigCommands.Ok;
            }
            if (state.Rotation.Phase != phase)
            {
                phase = state.Rotation.Phase;
                await output.WriteLineAsync($"weft: {Describe(phase)}").ConfigureAwait(false);
            }
            var now = WaitingFor(state.Rotation);
            if (now != waitingFor && now.Length != 0)
                await output.WriteLineAsync($"weft: waiting for {now}").ConfigureAwait(false);
            waitingFor = now;
            if (DateTimeOffset.UtcNow > deadline)
            {
                await output.WriteLineAsync($"weft: the rotation is still {phase} after {timeout}; `weft ca status` shows what it waits for").ConfigureAwait(false);
                return ConfigCommands.Failed;
            }
            await Task.Delay(TimeSpan.FromMilliseconds(500), ct).ConfigureAwait(false);
            var response = await client.GetAsync("ca", ct).ConfigureAwait(false);
            if (!response.Ok)
            {
                await output.WriteLineAsync($"weft: {response.ErrorMessage()}").ConfigureAwait(false);
                return ConfigCommands.Failed;
            }
            state = response.Read<CaStatusResponse>();
        }
    }

    private static string Describe(string phase) => phase switch
    {
        "distributing" => "every connected proxy is taking the bundle with both roots",
        "switching" or "reissuing" => "the CA issues under the new root; proxies are renewing their certificates",
        _ => phase,
    };

    private static string WaitingFor(CaRotationInfo rotation)
    {
        if (rotation.WaitingForProxies.Count != 0)
            return $"{rotation.WaitingForProxies.Count} proxies to apply the bundle: {string.Join(", ", rotation.WaitingForProxies.Take(5))}";
        if (rotation.LiveUnderOldRoot.Count != 0)
            return $"{rotation.LiveUnderOldRoot.Count} certificates under the old root: " +
                string.Join(", ", rotation.LiveUnderOldRoot.Take(5).Select(l => $"{l.Holder} (expires {l.NotAfter.UtcDateTime.ToString("u", CultureInfo.InvariantCulture)})"));
        return "";
    }

    private static void Print(TextWriter output, CaStatusResponse state)
    {
        output.WriteLine($"trust domain  {state.TrustDomain}");
        Output.WriteTable(output, ["CERTIFICATE", "SHA-256", "SUBJECT", "NOT AFTER"],
            [
                .. state.Roots.Select(r => (IReadOnlyList<string>)[r.Sha256 == state.IssuerRootSha256 ? "root (issuing)" : "root", Output.ShortHash(r.Sha256), r.Subject, Output.Minute(r.NotAfter)]),
                [ "intermediate", Output.ShortHash(state.Intermediate.Sha256), state.Intermediate.Subject, Output.Minute(state.Intermediate.NotAfter) ],
            ]);
        var rotation = state.Rotation;
        output.WriteLine(rotation.Phase == "none"
            ? rotation.FinishedAt is { } finished ? $"rotation      none under way (the last retired {Output.ShortHash(rotation.OldRoot)} at {Output.Minute(finished)})" : "rotation      none under way"
            : $"rotation      {rotation.Phase} since {Output.Minute(rotation.SwitchedAt ?? rotation.StartedAt ?? DateTimeOffset.MinValue)}: {Describe(rotation.Phase)}");
        if (WaitingFor(rotation) is { Length: > 0 } waiting)
            output.WriteLine($"waiting for   {waiting}");
    }
}
