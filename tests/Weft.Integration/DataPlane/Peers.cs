using System.Diagnostics;
using System.Text.Json;
using Weft.Integration.Harness;

namespace Weft.Integration.DataPlane;

/// <summary>
/// The real peers the data-plane tests talk through the sidecars with: tests/interop's node scripts
/// (@grpc/grpc-js in client.js and server.js, Node's http2 module in h2.js), curl and nghttp. A peer
/// runs as a real process; a client runs to its end, a server app lives as long as the mesh.
/// </summary>
internal static class Peers
{
    public static string InteropDir => Path.Combine(Repo.Root, "tests", "interop");

    /// <summary>
    /// Why the peers cannot run here (the first command not on PATH, else <paramref name="otherwise"/>),
    /// or null. xunit 2 has no dynamic skip: a test prints "SKIP: why" and returns; in CI, where
    /// test.sh installs every peer, a missing one is a failure instead.
    /// </summary>
    public static string? Missing(IEnumerable<string> commands, string? otherwise = null)
    {
        var why = commands.Where(c => FindOnPath(c) is null).Select(c => c + " is not installed").FirstOrDefault() ?? otherwise;
        if (why is not null && Environment.GetEnvironmentVariable("CI") is "true" or "1")
            Assert.Fail("interop peer missing in CI: " + why);
        return why;
    }

    /// <summary>Why the @grpc/grpc-js scripts cannot run here, or null.</summary>
    public static string? GrpcMissing() => Missing(["node"],
        Directory.Exists(Path.Combine(InteropDir, "node_modules", "@grpc", "grpc-js")) ? null : "tests/interop/node_modules is missing (npm install)");

    /// <summary>A tests/interop script as a long-lived server app (its lines waited on like weft's).</summary>
    public static WeftProcess StartNodeApp(params string[] args) =>
        WeftProcess.StartCommand("node", args, workingDirectory: InteropDir);

    /// <summary>The port of a server app's "<paramref name="label"/> PORT" line.</summary>
    public static async Task<int> PortAsync(WeftProcess app, string label) =>
        int.Parse((await app.WaitForLineAsync($"^{label} ([0-9]+)$", TimeSpan.FromSeconds(20))).Groups[1].Value);

    /// <summary>Runs a client to its end (killed at the deadline); its exit code and everything it printed.</summary>
    public static async Task<PeerRun> RunAsync(string command, IEnumerable<string> args, TimeSpan timeout, string? workingDirectory = null)
    {
        var psi = new ProcessStartInfo(command)
        {
            WorkingDirectory = workingDirectory ?? InteropDir,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        var clock = Stopwatch.StartNew();
        using var process = Process.Start(psi)!;
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try { await process.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            return new PeerRun(-1, $"{command} timed out after {timeout}\n{await stdout}{await stderr}", clock.Elapsed);
        }
        return new PeerRun(process.ExitCode, await stdout + await stderr, clock.Elapsed);
    }

    /// <summary>`node SCRIPT [MODE] SCENARIO 127.0.0.1:PORT`: one scenario of client.js or h2.js.</summary>
    public static Task<PeerRun> RunScenarioAsync(string[] script, string scenario, int port, TimeSpan timeout) =>
        RunAsync("node", [.. script, scenario, $"127.0.0.1:{port}"], timeout);

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, name))
            .FirstOrDefault(File.Exists);
}

/// <summary>A peer process run to its end: its exit code, what it printed, how long it took.</summary>
internal sealed record PeerRun(int Code, string Output, TimeSpan Elapsed)
{
    /// <summary>A scenario script's final "result {json}" line.</summary>
    public JsonElement Result
    {
        get
        {
            var line = Output.Split('\n').LastOrDefault(l => l.StartsWith("result ", StringComparison.Ordinal))
                ?? throw new InvalidOperationException("no result line in:\n" + Output);
            using var doc = JsonDocument.Parse(line["result ".Length..]);
            return doc.RootElement.Clone();
        }
    }

    public bool ScenarioPassed => Code == 0 && Output.Contains("result {", StringComparison.Ordinal) && Result.GetProperty("ok").GetBoolean();
}
