using System.Diagnostics;
using System.Text;

namespace Weft.Integration.DataPlane;

/// <summary>
/// tests/interop's @grpc/grpc-js scripts as real node processes: server.js is an app behind a sidecar,
/// client.js runs one scenario against a sidecar's outbound port and reports one "result {json}" line.
/// </summary>
internal static class GrpcPeer
{
    public static string InteropDir => Path.Combine(Harness.Repo.Root, "tests", "interop");

    /// <summary>Why node scenarios cannot run here; null when they can. In CI a missing peer is a failure.</summary>
    public static string? Missing()
    {
        string? why = null;
        if (!File.Exists("/usr/bin/node") && !File.Exists("/usr/local/bin/node")) why = "node is not installed";
        else if (!Directory.Exists(Path.Combine(InteropDir, "node_modules", "@grpc", "grpc-js"))) why = "tests/interop/node_modules is missing (npm install)";
        if (why is not null && Environment.GetEnvironmentVariable("CI") is "true" or "1")
            Assert.Fail("gRPC interop peer missing in CI: " + why);
        return why;
    }

    public static Process Start(string script, params string[] args)
    {
        var psi = new ProcessStartInfo("node") { WorkingDirectory = InteropDir, RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(script);
        foreach (var a in args) psi.ArgumentList.Add(a);
        return Process.Start(psi)!;
    }

    /// <summary>The server's port, read from its "listening PORT" line.</summary>
    public static async Task<int> ListeningPortAsync(Process server, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (await server.StandardOutput.ReadLineAsync(cts.Token) is { } line)
            if (line.StartsWith("listening ", StringComparison.Ordinal))
                return int.Parse(line["listening ".Length..]);
        throw new InvalidOperationException("server.js exited: " + await server.StandardError.ReadToEndAsync());
    }

    /// <summary>Runs client.js SCENARIO against 127.0.0.1:port; returns (exit code, everything it printed).</summary>
    public static async Task<(int Code, string Output)> RunClientAsync(string scenario, int port, TimeSpan timeout)
    {
        using var client = Start("client.js", scenario, $"127.0.0.1:{port}");
        client.StandardInput.Close();
        var output = new StringBuilder();
        var stdout = client.StandardOutput.ReadToEndAsync();
        var stderr = client.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try { await client.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException)
        {
            client.Kill(entireProcessTree: true);
            await client.WaitForExitAsync();
            return (-1, $"timed out after {timeout}\n{await stdout}{await stderr}");
        }
        return (client.ExitCode, output.Append(await stdout).Append(await stderr).ToString());
    }

    public static async Task StopAsync(Process server)
    {
        try
        {
            server.StandardInput.Close();   // server.js shuts down when its stdin ends
            await server.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (Exception) when (!server.HasExited) { server.Kill(entireProcessTree: true); }
        catch (Exception) { }
        server.Dispose();
    }
}
