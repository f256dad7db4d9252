using System.CommandLine;
using System.Globalization;
using Weft.Control.Api;
using Weft.Control.Discovery;

namespace Weft.Cli.Commands;

/// <summary>
/// `weft check [--within 30d]`: the health of the mesh, each problem on one line with its fix. The
/// control plane answers; the CA's roots and intermediate are not expired and do not
/// expire within the window; no root rotation is stuck; every proxy is connected, in sync, holds a
/// certificate and renews it on time. Exit 0: nothing found; 1: problems; 2: no control plane.
/// </summary>
internal static class CheckCommand
{
    private enum Level { Ok, Warn, Fail }

    private sealed record Finding(Level Level, string Subject, string Problem, string? Fix = null);

    public static Command Create()
    {
        var control = ConfigCommands.CreateControlOption();
        var within = new Option<TimeSpan>("--within")
        {
            Description = "Warn about CA certificates expiring within this long (e.g. 30d, 720h)",
            DefaultValueFactory = _ => TimeSpan.FromDays(30),
            CustomParser = r => ApplyCommand.ParseDuration(r.Tokens[0].Value, r),
            HelpName = "DURATION",
        };
        var command = new Command("check", "Check the mesh's health: the control plane, the CA's certificates, every proxy's sync and certificate; each problem with its fix")
            { control, within };
        ConfigCommands.SetClientAction(command, control, async (parse, client, ct) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var now = DateTimeOffset.UtcNow;
            var findings = new List<Finding>();

            var ca = await client.GetAsync("ca", ct).ConfigureAwait(false);
            if (!ca.Ok) return ConfigCommands.Refused(parse, ca);
            CheckCa(ca.Read<CaStatusResponse>(), now, parse.GetValue(within), findings);

            var proxies = await client.GetAsync("proxies", ct).ConfigureAwait(false);
            if (!proxies.Ok) return ConfigCommands.Refused(parse, proxies);
            CheckProxies(proxies.Read<ProxiesResponse>(), now, findings);

            foreach (var f in findings)
            {
                var tag = f.Level switch { Level.Ok => "ok  ", Level.Warn => "WARN", _ => "FAIL" };
                await output.WriteLineAsync($"{tag}  {f.Subject}: {f.Problem}").ConfigureAwait(false);
                if (f.Fix is not null)
                    await output.WriteLineAsync($"      fix: {f.Fix}").ConfigureAwait(false);
            }
            var problems = findings.Count(f => f.Level != Level.Ok);
            await output.WriteLineAsync(problems == 0 ? "weft check: no problems found" : $"weft check: {problems} problem{(problems == 1 ? "" : "s")} found").ConfigureAwait(false);
            return problems == 0 ? ConfigCommands.Ok : ConfigCommands.Failed;
        });
        return command;
    }

    private static void CheckCa(CaStatusResponse ca, DateTimeOffset now, TimeSpan within, List<Finding> findings)
    {
        // Weft's own CA rotates itself; an operator's is renewed with the operator's PKI.
        var fix = ca.OwnsRoot
            ? "weft ca rotate brings in a new root and intermediate without an outage"
            : "this CA is your own: add the new root to root-cert.pem (both trusted while proxies move), replace ca-cert.pem, ca-key.pem and cert-chain.pem, and restart the control plane";
        foreach (var root in ca.Roots)
            Expiry(findings, $"root {Output.ShortHash(root.Sha256)} ({root.Subject})", root.NotAfter, now, within, fix);
        Expiry(findings, $"intermediate {Output.ShortHash(ca.Intermediate.Sha256)} ({ca.Intermediate.Subject})", ca.Intermediate.NotAfter, now, within, fix);
        var rotation = ca.Rotation;
        if (rotation.Phase != "none")
        {
            var since = rotation.SwitchedAt ?? rotation.StartedAt ?? now;
            var waiting = rotation.WaitingForProxies.Count != 0 ? $"{rotation.WaitingForProxies.Count} proxies have not applied the new bundle ({string.Join(", ", rotation.WaitingForProxies.Take(5))})"
                : rotation.LiveUnderOldRoot.Count != 0 ? $"{rotation.LiveUnderOldRoot.Count} certificates still chain to the old root ({string.Join(", ", rotation.LiveUnderOldRoot.Take(5).Select(l => l.Holder))})"
                : "its next step";
            findings.Add(now - since > TimeSpan.FromMinutes(10)
                ? new Finding(Level.Warn, "root rotation", $"{rotation.Phase} for {Output.Span(now - since)}, waiting for {waiting}",
                    "weft status shows those proxies: a NACKING or unreachable one holds the rotation; a certificate of a proxy that went away is waited for until it expires")
                : new Finding(Level.Ok, "root rotation", $"{rotation.Phase}, waiting for {waiting}"));
        }
    }

    private static void Expiry(List<Finding> findings, string subject, DateTimeOffset notAfter, DateTimeOffset now, TimeSpan within, string fix)
    {
        var left = notAfter - now;
        if (left <= TimeSpan.Zero)
            findings.Add(new Finding(Level.Fail, subject, $"expired {Output.Minute(notAfter)}: no certificate it signed is trusted", fix));
        else if (left <= within)
            findings.Add(new Finding(Level.Warn, subject, $"expires {Output.Minute(notAfter)}, in {Output.Span(left)}", fix));
        else
            findings.Add(new Finding(Level.Ok, subject, $"valid until {Output.Minute(notAfter)}"));
    }

    private static void CheckProxies(ProxiesResponse status, DateTimeOffset now, List<Finding> findings)
    {
        if (status.Proxies.Count == 0)
        {
            findings.Add(new Finding(Level.Ok, "proxies", "none connected"));
            return;
        }
        var healthy = 0;
        foreach (var p in status.Proxies.OrderBy(p => p.Id, StringComparer.Ordinal))
        {
            var before = findings.Count;
            var subject = $"proxy {p.Id}";
            if (!p.Connected)
                findings.Add(new Finding(Level.Warn, subject, "disconnected from the control plane",
                    "is its process running (weft status, APP column)? can it reach the discovery port? its log says"));
            else if (p.SyncState.StartsWith("NACKED", StringComparison.Ordinal))
                findings.Add(new Finding(Level.Fail, subject, $"refuses the config: {p.NackReason}",
                    "the reason names what it could not apply: a resource to fix and weft apply again (weft rollback goes back), or something on its host, such as a port another process holds"));
            else if (p.SyncState != ProxyStatusBoard.Synced && p.SentAt is { } sent && now - sent > TimeSpan.FromSeconds(30))
                findings.Add(new Finding(Level.Warn, subject, $"has not acknowledged revision {p.RevisionSent} after {Output.Span(now - sent)}",
                    "the proxy may be overloaded or its stream stuck: its log says; restarting it resyncs"));

            if (p.CertificateNotAfter is not { } notAfter)
            {
                if (p.Connected && now - p.ConnectedAt > TimeSpan.FromSeconds(30))
                    findings.Add(new Finding(Level.Warn, subject, "holds no workload certificate",
                        "check its --bootstrap-token-file (weft token create) and its log: the CA says why it refused"));
            }
            else if (notAfter <= now)
            {
                findings.Add(new Finding(Level.Fail, subject, $"certificate expired {Output.Minute(notAfter)}: its mTLS connections fail",
                    "the proxy renews at half life: it cannot reach the CA, or the CA refuses it (its log says)"));
            }
            else if (p.CertificateNotBefore is { } notBefore && now > notBefore + (notAfter - notBefore) * 0.75)
            {
                // Renewal comes at half life, give or take a tenth: past three quarters it is overdue.
                findings.Add(new Finding(Level.Warn, subject, $"certificate expires {Output.Minute(notAfter)}, in {Output.Span(notAfter - now)}, and was not renewed at half its life",
                    "the proxy cannot reach the CA or the CA refuses it: its log says why"));
            }
            if (findings.Count == before)
                healthy++;
        }
        findings.Add(new Finding(Level.Ok, "proxies", $"{healthy} of {status.Proxies.Count} connected, in sync, with certificates renewed on time"));
    }
}
