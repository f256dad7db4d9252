using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Weft.Cli.Up;

namespace Weft.Integration.Up;

/// <summary>Conditions with deadlines (never fixed sleeps), and facts about processes from /proc.</summary>
internal static class UpTestSupport
{
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    public static async Task WaitUntilAsync(Func<bool> condition, string what, TimeSpan? deadline = null)
    {
        var limit = deadline ?? Deadline;
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            if (watch.Elapsed > limit) throw new TimeoutException($"not within {limit.TotalSeconds} s: {what}");
            await Task.Delay(20);
        }
    }

    public static async Task WaitUntilAsync(Func<Task<bool>> condition, string what, TimeSpan? deadline = null)
    {
        var limit = deadline ?? Deadline;
        var watch = Stopwatch.StartNew();
        while (!await condition())
        {
            if (watch.Elapsed > limit) throw new TimeoutException($"not within {limit.TotalSeconds} s: {what}");
            await Task.Delay(20);
        }
    }

    /// <summary>Gone, or a zombie waiting for a reaper (a container's pid 1 may never reap it): dead either way.</summary>
    public static bool IsGone(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var state = stat[(stat.LastIndexOf(')') + 2)..][0];
            return state is 'Z' or 'X';
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or IOException)
        {
            return true;
        }
    }

    public static ProcessSpec Shell(string name, string script, bool restart = true) =>
        new(name, ProcessRole.App, "/bin/sh", ["-c", script], new Dictionary<string, string>(), Path.GetTempPath(), restart);

    public static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "weft.sln"))) return dir.FullName;
        throw new InvalidOperationException("weft.sln not found above " + AppContext.BaseDirectory);
    }

    public static string ShopDll() => Path.Combine(RepoRoot(), ".build", "bin", "Shop", "release", "shop.dll");
}

/// <summary>A TextWriter the tests can read while processes write to it.</summary>
internal sealed class CapturedOutput : TextWriter
{
    private readonly List<string> _lines = [];

    public override System.Text.Encoding Encoding => System.Text.Encoding.UTF8;

    public override void WriteLine(string? value)
    {
        lock (_lines) _lines.Add(value ?? "");
    }

    public override void Write(char value) => throw new NotSupportedException("only whole lines are expected");

    public IReadOnlyList<string> Lines
    {
        get { lock (_lines) return _lines.ToArray(); }
    }

    public bool Has(string line) => Lines.Contains(line);
}

/// <summary>Answers every request with Status (HTTP/1.1, connection close).</summary>
internal sealed class TinyHttpServer : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private int _requests;

    public TinyHttpServer()
    {
        _listener.Start();
        _ = ServeAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;
    public volatile int Status = 200;
    public int Requests => Volatile.Read(ref _requests);
    /// <summary>The head (request line and headers) of the last request.</summary>
    public volatile string LastRequest = "";

    private async Task ServeAsync()
    {
        try
        {
            while (true)
            {
                using var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                var stream = client.GetStream();
                var buffer = new byte[4096];
                var read = 0;
                while (!System.Text.Encoding.ASCII.GetString(buffer, 0, read).Contains("\r\n\r\n"))
                {
                    var n = await stream.ReadAsync(buffer.AsMemory(read), _stop.Token);
                    if (n == 0) break;
                    read += n;
                }
                LastRequest = System.Text.Encoding.ASCII.GetString(buffer, 0, read);
                Interlocked.Increment(ref _requests);
                var response = $"HTTP/1.1 {Status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
                await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(response), _stop.Token);
            }
        }
        catch (Exception) when (_stop.IsCancellationRequested) { }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
    }
}
