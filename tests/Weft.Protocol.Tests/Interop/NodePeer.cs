using System.Diagnostics;
using System.Text;
using System.Threading.Channels;
using Xunit.Abstractions;

namespace Weft.Protocol.Tests.Interop;

/// <summary>
/// A real node process running one of tests/interop's scripts (@grpc/grpc-js). Its stdout is read
/// line by line so tests wait on what the peer reports instead of sleeping.
/// </summary>
internal sealed class NodePeer : IAsyncDisposable
{
    private static readonly Lazy<string> Root = new(FindRepoRoot);
    private readonly Process _process;
    private readonly Channel<string> _lines = Channel.CreateUnbounded<string>();
    private readonly StringBuilder _transcript = new();

    private NodePeer(Process process) => _process = process;

    public static string InteropDir => Path.Combine(Root.Value, "tests", "interop");

    /// <summary>Why the interop tests cannot run here, or null when node and the npm packages are present.</summary>
    public static string? MissingPrerequisite()
    {
        if (FindOnPath("node") is null)
        {
            return "node is not on PATH (apt-get install nodejs; ./test.sh does it when run as root)";
        }
        if (!Directory.Exists(Path.Combine(InteropDir, "node_modules", "@grpc", "grpc-js")))
        {
            return "tests/interop/node_modules is missing (run `npm install` in tests/interop; ./test.sh does it)";
        }
        return null;
    }

    /// <summary>
    /// xunit 2 has no dynamic skip: a test that cannot run says so in its output and returns, so the
    /// skip is visible in the log (and counted by nobody as evidence).
    /// </summary>
    public static bool SkipIfMissing(ITestOutputHelper output)
    {
        string? missing = MissingPrerequisite();
        if (missing is null)
        {
            return false;
        }
        // CI has node and ./test.sh installs the npm packages: there a missing peer is a failure, not a skip.
        if (Environment.GetEnvironmentVariable("CI") is "true" or "1")
            Assert.Fail("gRPC interop peer missing in CI: " + missing);
        output.WriteLine("SKIP: gRPC interop test did not run: " + missing);
        Console.WriteLine("SKIP: gRPC interop test did not run: " + missing);
        return true;
    }

    public static NodePeer Start(string script, params string[] args)
    {
        var info = new ProcessStartInfo(FindOnPath("node")!)
        {
            WorkingDirectory = InteropDir,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(script);
        foreach (string arg in args)
        {
            info.ArgumentList.Add(arg);
        }
        var process = new Process { StartInfo = info };
        var peer = new NodePeer(process);
        process.OutputDataReceived += (_, e) => peer.OnLine(e.Data, "out");
        process.ErrorDataReceived += (_, e) => peer.OnLine(e.Data, "err");
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return peer;
    }

    /// <summary>Everything the peer printed so far, for assertion messages.</summary>
    public string Transcript
    {
        get
        {
            lock (_transcript)
            {
                return _transcript.ToString();
            }
        }
    }

    private void OnLine(string? line, string stream)
    {
        if (line is null)
        {
            if (stream == "out")
            {
                _lines.Writer.TryComplete();
            }
            return;
        }
        lock (_transcript)
        {
            _transcript.Append(stream).Append(": ").AppendLine(line);
        }
        if (stream == "out")
        {
            _lines.Writer.TryWrite(line);
        }
    }

    /// <summary>The first stdout line starting with <paramref name="prefix"/>; earlier lines are skipped.</summary>
    public async Task<string> WaitForLineAsync(string prefix, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await foreach (string line in _lines.Reader.ReadAllAsync(cts.Token))
            {
                if (line.StartsWith(prefix, StringComparison.Ordinal))
                {
                    return line;
                }
            }
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"node printed no line starting with '{prefix}' within {timeout}. Transcript:\n{Transcript}");
        }
        throw new InvalidOperationException($"node exited before printing '{prefix}'. Transcript:\n{Transcript}");
    }

    public async Task SendLineAsync(string line)
    {
        await _process.StandardInput.WriteLineAsync(line);
        await _process.StandardInput.FlushAsync();
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        await _process.WaitForExitAsync().WaitAsync(timeout);
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            _process.StandardInput.Close(); // the peer shuts down when its stdin ends
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (Exception) when (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }
        catch (Exception)
        {
            // Already gone.
        }
        _process.Dispose();
    }

    private static string? FindOnPath(string name)
    {
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator))
        {
            string candidate = Path.Combine(dir, name);
            if (dir.Length > 0 && File.Exists(candidate))
            {
                return candidate;
            }
        }
        return null;
    }

    private static string FindRepoRoot()
    {
        for (DirectoryInfo? dir = new(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "weft.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("weft.sln not found above " + AppContext.BaseDirectory);
    }
}
