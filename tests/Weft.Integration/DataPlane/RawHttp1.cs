using System.Net.Sockets;
using System.Text;

namespace Weft.Integration.DataPlane;

/// <summary>
/// One HTTP/1.1 client connection driven byte by byte, so a test sees exactly what is on the wire:
/// interim 100 responses, chunked framing, `Connection: close`, the peer closing the socket.
/// </summary>
public sealed class RawHttp1 : IAsyncDisposable
{
    private readonly TcpClient _tcp;
    private readonly NetworkStream _stream;
    private readonly byte[] _buffer = new byte[64 * 1024];
    private int _start, _end;

    private RawHttp1(TcpClient tcp)
    {
        _tcp = tcp;
        _stream = tcp.GetStream();
    }

    public static async Task<RawHttp1> ConnectAsync(int port)
    {
        var tcp = new TcpClient { NoDelay = true };
        await tcp.ConnectAsync("127.0.0.1", port);
        return new RawHttp1(tcp);
    }

    public sealed record Response(int Status, IReadOnlyList<(string Name, string Value)> Headers, byte[] Body)
    {
        public string? Header(string name) =>
            Headers.Where(h => h.Name.Equals(name, StringComparison.OrdinalIgnoreCase)).Select(h => h.Value).FirstOrDefault();
        public string Text => Encoding.UTF8.GetString(Body);
    }

    public Task SendAsync(string text) => SendAsync(Encoding.ASCII.GetBytes(text));

    public async Task SendAsync(byte[] bytes)
    {
        await _stream.WriteAsync(bytes);
        await _stream.FlushAsync();
    }

    public Task SendGetAsync(string path) => SendAsync($"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n");

    /// <summary>Reads one response head (interim 1xx included) and its body, however it is framed.</summary>
    public async Task<Response> ReadResponseAsync(TimeSpan timeout, bool headOnly = false)
    {
        using var cts = new CancellationTokenSource(timeout);
        var statusLine = await ReadLineAsync(cts.Token) ?? throw new EndOfStreamException("connection closed before a response");
        var status = int.Parse(statusLine.Split(' ')[1]);
        var headers = new List<(string, string)>();
        while (await ReadLineAsync(cts.Token) is { Length: > 0 } line)
        {
            var colon = line.IndexOf(':');
            headers.Add((line[..colon].Trim(), line[(colon + 1)..].Trim()));
        }
        var response = new Response(status, headers, []);
        if (headOnly || status is >= 100 and < 200)
            return response;
        var body = new MemoryStream();
        if (response.Header("Transfer-Encoding")?.Contains("chunked", StringComparison.OrdinalIgnoreCase) == true)
        {
            while (true)
            {
                var size = Convert.ToInt32((await ReadLineAsync(cts.Token))!.Split(';')[0], 16);
                if (size == 0)
                {
                    while (await ReadLineAsync(cts.Token) is { Length: > 0 }) { }   // trailers
                    break;
                }
                await ReadExactlyAsync(body, size, cts.Token);
                await ReadLineAsync(cts.Token);
            }
        }
        else if (response.Header("Content-Length") is { } length)
        {
            await ReadExactlyAsync(body, int.Parse(length), cts.Token);
        }
        return response with { Body = body.ToArray() };
    }

    /// <summary>True when the peer closed the connection (EOF) within the timeout.</summary>
    public async Task<bool> ClosedByPeerAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try { return _start == _end && !await FillAsync(cts.Token); }
        catch (OperationCanceledException) { return false; }
        catch (IOException) { return true; }
    }

    private async Task ReadExactlyAsync(Stream into, int count, CancellationToken ct)
    {
        while (count > 0)
        {
            if (_start == _end && !await FillAsync(ct)) throw new EndOfStreamException("connection closed mid-body");
            var n = Math.Min(count, _end - _start);
            into.Write(_buffer, _start, n);
            _start += n;
            count -= n;
        }
    }

    private async Task<string?> ReadLineAsync(CancellationToken ct)
    {
        var line = new StringBuilder();
        while (true)
        {
            if (_start == _end && !await FillAsync(ct)) return line.Length == 0 ? null : line.ToString();
            var b = _buffer[_start++];
            if (b == '\n')
                return line.ToString().TrimEnd('\r');
            line.Append((char)b);
        }
    }

    private async Task<bool> FillAsync(CancellationToken ct)
    {
        var n = await _stream.ReadAsync(_buffer, ct);
        _start = 0;
        _end = n;
        return n > 0;
    }

    public ValueTask DisposeAsync()
    {
        _tcp.Dispose();
        return ValueTask.CompletedTask;
    }
}
